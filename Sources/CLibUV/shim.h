#ifndef CALF_CLIBUV_SHIM_H
#define CALF_CLIBUV_SHIM_H
/* _GNU_SOURCE exposes pthread_setname_np, used to name loop threads. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <uv.h>
#endif
