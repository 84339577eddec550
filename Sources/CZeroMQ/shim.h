#ifndef CAPSULE_CZEROMQ_SHIM_H
#define CAPSULE_CZEROMQ_SHIM_H

#include <zmq.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Debian's libzmq 4.3.4 header omits this option, but the library accepts it and then fails
   closed: a CURVE server refuses every client when no ZAP handler answers. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#endif
