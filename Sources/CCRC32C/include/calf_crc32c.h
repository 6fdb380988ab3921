#ifndef CALF_CRC32C_H
#define CALF_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, the polynomial of iSCSI, ext4 and RocksDB) of
/// `count` bytes at `bytes`, continuing from `crc` (0 to start).
///
/// Uses the CPU's CRC32 instruction where there is one (SSE 4.2 on x86-64,
/// the CRC extension on ARMv8), checked once at run time, else a
/// slicing-by-8 table. The result is the same either way.
uint32_t calf_crc32c(uint32_t crc, const void *bytes, size_t count);

/// The CRC-32C of `first` followed by `second` in one call (a stored
/// value's key and bytes).
uint32_t calf_crc32c_pair(const void *first, size_t first_count, const void *second, size_t second_count);

/// The same CRC computed by the table alone, whatever the CPU (to check
/// the instruction's path against).
uint32_t calf_crc32c_table(uint32_t crc, const void *bytes, size_t count);

/// Whether `calf_crc32c` runs on the CPU's CRC32 instruction here.
int calf_crc32c_is_hardware(void);

#endif
