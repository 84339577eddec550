#ifndef CAPSULE_CSODIUM_SHIM_H
#define CAPSULE_CSODIUM_SHIM_H
#include <sodium.h>
#endif
