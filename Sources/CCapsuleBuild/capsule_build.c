#include "capsule_build.h"

#ifndef CAPSULE_COMMIT
#define CAPSULE_COMMIT ""
#endif

const char *capsule_build_commit(void) { return CAPSULE_COMMIT; }
