#ifndef CALF_CMIMALLOC_SHIM_H
#define CALF_CMIMALLOC_SHIM_H
/* mimalloc (Debian's libmimalloc-dev): linked into the calf binary, it
   replaces glibc's malloc for the whole process (dynamic override: its
   malloc comes before libc's in the link order). Only mi_version is used
   from Swift, so the library is referenced and stays linked. */
#include <mimalloc.h>
#endif
