#ifndef CAPSULE_BUILD_H
#define CAPSULE_BUILD_H

/// The git commit this build was made from ("abc1234", "abc1234-dirty"), or an empty string when the
/// build did not name one (CAPSULE_COMMIT unset when Package.swift was read).
const char *capsule_build_commit(void);

#endif
