#ifndef CALF_CLIBUV_SHIM_H
#define CALF_CLIBUV_SHIM_H
#include <pthread.h>
#include <uv.h>
/* glibc declares this only under _GNU_SOURCE, which would also change
   fd_set's field names and clash with Swift's Glibc module; declare it here. */
extern int pthread_setname_np(pthread_t thread, const char *name);

/* struct ucred is declared only under _GNU_SOURCE too: the same layout
   (pid, uid, gid), for getsockopt(SO_PEERCRED). */
struct calf_ucred {
    int pid;
    unsigned int uid;
    unsigned int gid;
};
#endif
