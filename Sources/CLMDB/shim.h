#ifndef CALF_CLMDB_SHIM_H
#define CALF_CLMDB_SHIM_H
#include <lmdb.h>
#endif
