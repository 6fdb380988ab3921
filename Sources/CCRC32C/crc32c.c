// CRC-32C for the journal's checksums. Written here because no package in
// reach has it: swift-crypto offers digests, not CRCs, and zlib's crc32 is
// the other polynomial without the CPU instruction. Swift cannot name the
// CRC32 instructions, so this small C file does (STYLE.md: C only where
// Swift cannot express something).
#include "calf_crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82F63B78u /* CRC-32C, reflected */

static uint32_t table[8][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int hardware;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ POLY : crc >> 1;
        table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = table[0][crc & 0xff] ^ (crc >> 8);
            table[k][n] = crc;
        }
    }
}

static uint32_t software(uint32_t crc, const unsigned char *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc; /* little-endian machines only take this path: see below */
        crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff] ^ table[5][(word >> 16) & 0xff] ^
              table[4][(word >> 24) & 0xff] ^ table[3][(word >> 32) & 0xff] ^ table[2][(word >> 40) & 0xff] ^
              table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

static uint32_t bytewise(uint32_t crc, const unsigned char *p, size_t n) {
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t accelerated(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    if (n >= 4) {
        uint32_t word;
        memcpy(&word, p, 4);
        c32 = _mm_crc32_u32(c32, word);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t half;
        memcpy(&half, p, 2);
        c32 = _mm_crc32_u16(c32, half);
        p += 2;
        n -= 2;
    }
    if (n) c32 = _mm_crc32_u8(c32, *p);
    return c32;
}

static int detect(void) { return __builtin_cpu_supports("sse4.2"); }

#elif defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif

__attribute__((target("crc")))
static uint32_t accelerated(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = __crc32cd(crc, word);
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        uint32_t word;
        memcpy(&word, p, 4);
        crc = __crc32cw(crc, word);
        p += 4;
        n -= 4;
    }
    while (n--) crc = __crc32cb(crc, *p++);
    return crc;
}

static int detect(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }

#else
static uint32_t accelerated(uint32_t crc, const unsigned char *p, size_t n) { return bytewise(crc, p, n); }
static int detect(void) { return 0; }
#endif

static void setup(void) {
    build_table();
    hardware = detect();
}

/* Done when the library loads, so the calls below find it ready; the
   pthread_once in each call is then one load and a branch. */
__attribute__((constructor)) static void setup_at_load(void) { pthread_once(&once, setup); }

static uint32_t update(uint32_t crc, const unsigned char *p, size_t n) {
    if (hardware) return accelerated(crc, p, n);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return software(crc, p, n);
#else
    return bytewise(crc, p, n);
#endif
}

uint32_t calf_crc32c(uint32_t crc, const void *bytes, size_t count) {
    pthread_once(&once, setup);
    return ~update(~crc, bytes, count);
}

uint32_t calf_crc32c_pair(const void *first, size_t first_count, const void *second, size_t second_count) {
    pthread_once(&once, setup);
    return ~update(update(~0u, first, first_count), second, second_count);
}

int calf_crc32c_is_hardware(void) {
    pthread_once(&once, setup);
    return hardware;
}

uint32_t calf_crc32c_table(uint32_t crc, const void *bytes, size_t count) {
    pthread_once(&once, setup);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return ~software(~crc, bytes, count);
#else
    return ~bytewise(~crc, bytes, count);
#endif
}
