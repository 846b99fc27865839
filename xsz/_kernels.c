/*
 * xsz._kernels: fused streamvbyte kernels for svb-zstd payloads, GIL released.
 *
 * The payload layout is streamvbyte's "standard" one (ceil(n/4) control bytes,
 * 2-bit key per value, first value in the low bits; then each value in key+1
 * little-endian bytes), optionally of zigzag-coded 32-bit deltas. These loops do
 * widening, delta, zigzag and streamvbyte in ONE pass over the data, and never
 * hold the GIL while doing so, so threads decode reads in parallel.
 *
 * decode(payload, count, out, itemsize, delta) -> None
 *     Decode `count` values into `out`, a writable, C-contiguous and aligned
 *     buffer of `count` items of `itemsize` (2 or 4) bytes. Delta-coded values
 *     are signed (int16/int32), the others unsigned (uint16/uint32). Raises
 *     ValueError unless the payload is exactly as long as the count and its keys
 *     imply (so corrupt input never reads out of bounds), and for 16-bit items
 *     unless every value fits int16 (delta) or uint16: a crafted or corrupt
 *     payload of wider values is refused, never wrapped.
 *
 * decode_frame(frame, count, out, kind, itemsize) -> bool
 * decode_frames(blocks, frames, out, kind, itemsize, first) -> int
 *     Whole zstd frames (kind 0: streamvbyte, 1: zigzag-delta, 2: raw items)
 *     decompressed by libzstd (loaded with dlopen at import; zstd_version() is 0
 *     without it) into a per-thread scratch buffer and decoded into out (raw
 *     items straight into out), a batch of frames in one call without the GIL.
 *     See their comments below.
 *
 * The decode loops exist twice: scalar, and SSSE3/SSE4.1 (chosen at import when
 * the CPU has them and XSZ_NO_SIMD is not set; `impl` picks one for tests).
 *
 * encode(values, itemsize, signed, delta) -> bytes
 *     Encode a C-contiguous, aligned buffer of `itemsize` (2 or 4) byte integers
 *     (sign-extended when `signed`), byte-identical to the reference C
 *     streamvbyte encoder.
 *
 * encode_many(parts, counts, itemsize, signed, delta) -> (payloads, segments)
 *     Encode many payloads (counts[i] values each, taken in order from the
 *     buffers in `parts`) with the GIL released once: the payloads back to back
 *     and their (offset, length) pairs, as zstandard's BufferWithSegments takes.
 *
 * vbz_to_svb, join_crc: pod5's VBZ chunks to SZ payloads, and frames' CRC-32
 *     (the pod5 import; see their section at the end).
 *
 * Every size, count and position that comes from the caller is checked with
 * overflow-free comparisons before any byte is read or written: the arguments
 * may come from a corrupt or crafted store.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t MASK[4] = {0xffu, 0xffffu, 0xffffffu, 0xffffffffu};

static inline uint32_t load_le(const uint8_t *p, unsigned nbytes, int room4)
{
    uint32_t v = 0;
    if (room4) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&v, p, 4);
        return v & MASK[nbytes - 1];
#endif
    }
    for (unsigned k = 0; k < nbytes; k++)
        v |= (uint32_t)p[k] << (8 * k);
    return v;
}

static inline void store_le(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 4);
#else
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
#endif
}

static inline unsigned key_of(uint32_t v)
{
    /* bytes v needs, minus one (faster here than branchless forms: measured) */
    return v < (1u << 8) ? 0u : v < (1u << 16) ? 1u : v < (1u << 24) ? 2u : 3u;
}

static inline uint32_t load4_le(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

/* Four values under one control byte: where each starts in the data, its mask,
 * and the bytes they take together; padded to 32 bytes, which indexes fastest
 * (measured). Filled once by init_groups(). */
struct group {
    uint32_t mask[4];
    uint8_t offset[4];
    uint32_t length;
    uint32_t pad[2];
};
static struct group GROUPS[256];
typedef char group_is_32_bytes[sizeof(struct group) == 32 ? 1 : -1];

static void init_decode_paths(void); /* SIMD tables and CPU check, libzstd: below */

static void init_groups(void)
{
    for (unsigned keys = 0; keys < 256; keys++) {
        unsigned at = 0;
        for (unsigned k = 0; k < 4; k++) {
            unsigned key = (keys >> (2 * k)) & 3u;
            GROUPS[keys].mask[k] = MASK[key];
            GROUPS[keys].offset[k] = (uint8_t)at;
            at += key + 1u;
        }
        GROUPS[keys].length = at;
    }
    init_decode_paths();
}

/* The range check of the 16-bit loops. WIDE_NONE: 32-bit items, none.
 * WIDE_U16: values < 2**16. The fast loop only ORs the control bytes (a key of
 * 2 or 3 is needed for a wider value, and never written for a 16-bit one), and
 * a flagged payload is scanned exactly by first_wide(); the others OR values.
 * WIDE_I16: prefix sums, as int32, in -2**15 .. 2**15-1. The sums run biased by
 * 2**15 (so that range is 0 .. 0xffff and one OR a value checks it), and a pass
 * at the end takes the bias out of the stored items. */
enum { WIDE_NONE = 0, WIDE_U16 = 1, WIDE_I16 = 2 };

/* Decode status: the payload holds exactly the values; it is too short; it is
 * longer; a value does not fit the 16-bit items. */
enum { SVB_OK = 0, SVB_SHORT = 1, SVB_LONG = 2, SVB_WIDE = 3 };

/* Apply zigzag-delta (when DELTA) to V, OR it into `wide` when CHECK, store it. */
#define FINISH_ONE(V, CHECK)                                                     \
    do {                                                                         \
        uint32_t v_ = (V);                                                       \
        if (DELTA) {                                                             \
            prev += (v_ >> 1) ^ (0u - (v_ & 1u));                                \
            v_ = prev;                                                           \
        }                                                                        \
        if (CHECK)                                                               \
            wide |= v_;                                                          \
        out[i++] = (OUT_T)v_;                                                    \
    } while (0)

/* Value K of a group whose 16 bytes are known to be there. */
#define GROUP_ONE(K)                                                             \
    FINISH_ONE(load4_le(data + g_->offset[K]) & g_->mask[K], WIDE == WIDE_I16)

/* One value of KEY, its bytes checked by the caller. */
#define DECODE_ONE(KEY)                                                          \
    do {                                                                         \
        unsigned nb_ = (KEY) + 1u;                                               \
        uint32_t w_ = load_le(data, nb_, end - data >= 4);                       \
        data += nb_;                                                             \
        FINISH_ONE(w_, WIDE != WIDE_NONE);                                       \
    } while (0)

static Py_ssize_t first_wide(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n, int delta,
                             uint32_t *value);

/* Loops specialised on the output type, delta coding and the range check. */
#define DEFINE_DECODE(NAME, OUT_T_, DELTA_, WIDE_)                                 \
    static int NAME(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n, OUT_T_ *out) \
    {                                                                            \
        typedef OUT_T_ OUT_T;                                                    \
        const int DELTA = (DELTA_), WIDE = (WIDE_);                              \
        Py_ssize_t nctrl = n / 4 + (n % 4 != 0); /* n >= 0: no overflow */       \
        /* every value takes a data byte after the control bytes */              \
        if (inlen - nctrl < n)                                                   \
            return SVB_SHORT;                                                    \
        const uint8_t *ctrl = in, *data = in + nctrl, *end = in + inlen;         \
        uint32_t prev = WIDE == WIDE_I16 ? 0x8000u : 0u, wide = 0, keymask = 0;  \
        Py_ssize_t i = 0, full = n / 4;                                          \
        Py_ssize_t c = 0;                                                        \
        for (;;) {                                                               \
            /* a group's 4 values take at most 16 bytes, and their 4-byte loads  \
             * end within them: the next `room` groups need no checks */         \
            Py_ssize_t room = (end - data) / 16;                                 \
            Py_ssize_t stop = full - c < room ? full : c + room;                 \
            if (stop == c)                                                       \
                break;                                                           \
            for (; c < stop; c++) {                                              \
                unsigned keys = ctrl[c];                                         \
                const struct group *g_ = &GROUPS[keys];                          \
                if (WIDE == WIDE_U16)                                            \
                    keymask |= keys;                                             \
                GROUP_ONE(0); GROUP_ONE(1); GROUP_ONE(2); GROUP_ONE(3);          \
                data += g_->length;                                              \
            }                                                                    \
        }                                                                        \
        for (; c < full; c++) {                                                  \
            for (int k = 0; k < 4; k++) {                                        \
                unsigned key = (ctrl[c] >> (2 * k)) & 3u;                        \
                if (end - data < (Py_ssize_t)key + 1)                            \
                    return SVB_SHORT;                                            \
                DECODE_ONE(key);                                                 \
            }                                                                    \
        }                                                                        \
        for (int k = 0; i < n; k++) {                                            \
            unsigned key = (ctrl[full] >> (2 * k)) & 3u;                         \
            if (end - data < (Py_ssize_t)key + 1)                                \
                return SVB_SHORT;                                                \
            DECODE_ONE(key);                                                     \
        }                                                                        \
        if (data != end)                                                         \
            return SVB_LONG;                                                     \
        if (WIDE == WIDE_I16)                                                    \
            for (Py_ssize_t j = 0; j < n; j++)                                   \
                out[j] ^= 0x8000u;                                               \
        if (wide > 0xffffu)                                                      \
            return SVB_WIDE;                                                     \
        if ((keymask & 0xaau) && first_wide(in, inlen, n, DELTA, NULL) >= 0)     \
            return SVB_WIDE;                                                     \
        return SVB_OK;                                                           \
    }

DEFINE_DECODE(decode_u16, uint16_t, 0, WIDE_U16)
DEFINE_DECODE(decode_u32, uint32_t, 0, WIDE_NONE)
DEFINE_DECODE(decode_d16, uint16_t, 1, WIDE_I16)
DEFINE_DECODE(decode_d32, uint32_t, 1, WIDE_NONE)

/* The index of the first of the n values of a payload that does not fit int16
 * (delta) or uint16; -1 when all do. Stores that value, as read (int32 for
 * delta), in *value unless NULL. The payload decoded in full (inlen - nctrl >= n)
 * but is read with checks again: another thread may have changed its bytes. */
static Py_ssize_t first_wide(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n, int delta,
                             uint32_t *value)
{
    const uint8_t *data = in + n / 4 + (n % 4 != 0), *end = in + inlen;
    uint32_t prev = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned nb = ((in[i / 4] >> (2 * (i % 4))) & 3u) + 1u;
        if (end - data < (Py_ssize_t)nb)
            return -1;
        uint32_t v = load_le(data, nb, 0);
        data += nb;
        if (delta) {
            prev += (v >> 1) ^ (0u - (v & 1u));
            v = prev;
        }
        if ((delta ? v + 0x8000u : v) > 0xffffu) {
            if (value != NULL)
                *value = v;
            return i;
        }
    }
    return -1;
}

/* --- SIMD decode (SSSE3 shuffles, SSE4.1 packs and min/max) ---------------------
 * The same loops as DEFINE_DECODE, four values a control byte at a time: one
 * 16-byte load, one pshufb with the shuffle of the control byte, zigzag and the
 * prefix sum in registers. Chosen at run time (cpu check in PyInit, or the
 * `impl` argument); the scalar loops stay for other CPUs and for the tests that
 * hold the two equal. The checks are the scalar loops' own: the payload exactly
 * as long as the keys say, and 16-bit items only from values that fit them
 * (prefix sums tracked with min/max; unsigned payloads by their keys, then the
 * exact scan of first_wide). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define XSZ_SIMD 1
#include <immintrin.h>
#define SIMD_TARGET __attribute__((target("ssse3,sse4.1")))

static uint8_t SHUF[256][16] __attribute__((aligned(16)));
static uint8_t LEN[256];

static void init_shuf(void)
{
    for (unsigned keys = 0; keys < 256; keys++) {
        unsigned at = 0;
        for (unsigned k = 0; k < 4; k++) {
            unsigned key = (keys >> (2 * k)) & 3u;
            for (unsigned b = 0; b < 4; b++)
                SHUF[keys][4 * k + b] = b <= key ? (uint8_t)(at + b) : 0x80u;
            at += key + 1u;
        }
        LEN[keys] = (uint8_t)at;
    }
}

#define DEFINE_DECODE_SIMD(NAME, OUT_T_, DELTA_, WIDE_)                              \
    SIMD_TARGET static int NAME(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n,     \
                                OUT_T_ *out)                                           \
    {                                                                                  \
        typedef OUT_T_ OUT_T;                                                          \
        const int DELTA = (DELTA_), WIDE = (WIDE_);                                    \
        Py_ssize_t nctrl = n / 4 + (n % 4 != 0);                                       \
        if (inlen - nctrl < n)                                                         \
            return SVB_SHORT;                                                          \
        const uint8_t *ctrl = in, *data = in + nctrl, *end = in + inlen;               \
        const __m128i one = _mm_set1_epi32(1), zero = _mm_setzero_si128();             \
        __m128i prev = zero, vmin = _mm_set1_epi32(INT32_MAX),                         \
                vmax = _mm_set1_epi32(INT32_MIN);                                      \
        unsigned keymask = 0;                                                          \
        Py_ssize_t full = n / 4, c = 0;                                                \
        /* SIMD_GROUP(): the next group as 4 int32 lanes, data moved on */              \
        for (;;) {                                                                     \
            Py_ssize_t room = (end - data) / 16; /* groups whose loads stay inside */  \
            Py_ssize_t stop = full - c < room ? full : c + room;                       \
            if (stop == c)                                                             \
                break;                                                                 \
            for (; c < stop; c++) {                                                    \
                __m128i x0 = SIMD_GROUP();                                             \
                if (sizeof(OUT_T) == 4) {                                              \
                    _mm_storeu_si128((__m128i *)(out + 4 * c), x0);                    \
                } else if (c + 1 < stop) {                                             \
                    c++;                                                               \
                    __m128i x1 = SIMD_GROUP();                                         \
                    __m128i p = DELTA ? _mm_packs_epi32(x0, x1) : _mm_packus_epi32(x0, x1); \
                    _mm_storeu_si128((__m128i *)(out + 4 * (c - 1)), p);               \
                } else {                                                               \
                    __m128i p = DELTA ? _mm_packs_epi32(x0, x0) : _mm_packus_epi32(x0, x0); \
                    _mm_storel_epi64((__m128i *)(out + 4 * c), p);                     \
                }                                                                      \
            }                                                                          \
        }                                                                              \
        /* the last values (under 16 bytes of data), one at a time with checks */      \
        uint32_t last = (uint32_t)_mm_cvtsi128_si32(prev), wide = 0;                   \
        for (Py_ssize_t i = 4 * c; i < n; i++) {                                       \
            unsigned nb = ((ctrl[i / 4] >> (2 * (i % 4))) & 3u) + 1u;                  \
            if (end - data < (Py_ssize_t)nb)                                           \
                return SVB_SHORT;                                                      \
            uint32_t v = load_le(data, nb, end - data >= 4);                           \
            data += nb;                                                                \
            if (DELTA) {                                                               \
                last += (v >> 1) ^ (0u - (v & 1u));                                    \
                v = last;                                                              \
            }                                                                          \
            if (WIDE == WIDE_I16)                                                      \
                wide |= v + 0x8000u;                                                   \
            else if (WIDE == WIDE_U16)                                                 \
                wide |= v;                                                             \
            out[i] = (OUT_T)v;                                                         \
        }                                                                              \
        if (data != end)                                                               \
            return SVB_LONG;                                                           \
        if (wide > 0xffffu)                                                            \
            return SVB_WIDE;                                                           \
        if (WIDE == WIDE_I16 && c > 0) {                                               \
            __m128i lo = _mm_min_epi32(vmin, _mm_shuffle_epi32(vmin, 0x4e));           \
            __m128i hi = _mm_max_epi32(vmax, _mm_shuffle_epi32(vmax, 0x4e));           \
            lo = _mm_min_epi32(lo, _mm_shuffle_epi32(lo, 0xb1));                       \
            hi = _mm_max_epi32(hi, _mm_shuffle_epi32(hi, 0xb1));                       \
            if (_mm_cvtsi128_si32(lo) < -32768 || _mm_cvtsi128_si32(hi) > 32767)       \
                return SVB_WIDE;                                                       \
        }                                                                              \
        if (WIDE == WIDE_U16 && (keymask & 0xaau) &&                                   \
            first_wide(in, inlen, n, DELTA, NULL) >= 0)                                \
            return SVB_WIDE;                                                           \
        return SVB_OK;                                                                 \
    }

/* The next group of the loop above (a statement expression: GCC and clang). */
#define SIMD_GROUP()                                                                   \
    __extension__({                                                                    \
        unsigned keys_ = ctrl[c];                                                      \
        __m128i x_ = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)data),          \
                                      _mm_load_si128((const __m128i *)SHUF[keys_]));   \
        data += LEN[keys_];                                                            \
        if (WIDE == WIDE_U16)                                                          \
            keymask |= keys_;                                                          \
        if (DELTA) {                                                                   \
            x_ = _mm_xor_si128(_mm_srli_epi32(x_, 1),                                  \
                               _mm_sub_epi32(zero, _mm_and_si128(x_, one)));           \
            x_ = _mm_add_epi32(x_, _mm_slli_si128(x_, 4));                             \
            x_ = _mm_add_epi32(x_, _mm_slli_si128(x_, 8));                             \
            x_ = _mm_add_epi32(x_, prev);                                              \
            prev = _mm_shuffle_epi32(x_, 0xff);                                        \
        }                                                                              \
        if (WIDE == WIDE_I16) {                                                        \
            vmin = _mm_min_epi32(vmin, x_);                                            \
            vmax = _mm_max_epi32(vmax, x_);                                            \
        }                                                                              \
        x_;                                                                            \
    })

DEFINE_DECODE_SIMD(simd_u16, uint16_t, 0, WIDE_U16)
DEFINE_DECODE_SIMD(simd_u32, uint32_t, 0, WIDE_NONE)
DEFINE_DECODE_SIMD(simd_d16, uint16_t, 1, WIDE_I16)
DEFINE_DECODE_SIMD(simd_d32, uint32_t, 1, WIDE_NONE)

static int simd_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.1");
}
#else
static int simd_supported(void) { return 0; }
#endif

/* Whether decode_impl uses the SIMD loops: set once by PyInit__kernels (the CPU
 * has SSSE3 and SSE4.1, and XSZ_NO_SIMD is not set). */
static int SIMD_ON = 0;

/* Decode n values (n >= 0) into out, n items of itemsize (2 or 4) bytes; impl
 * -1: the default loops, 0: scalar, 1: SIMD (only when simd_supported()). */
static int decode_with(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n, void *out,
                       int itemsize, int delta, int impl)
{
#ifdef XSZ_SIMD
    if (impl < 0 ? SIMD_ON : impl) {
        if (itemsize == 2)
            return delta ? simd_d16(in, inlen, n, out) : simd_u16(in, inlen, n, out);
        return delta ? simd_d32(in, inlen, n, out) : simd_u32(in, inlen, n, out);
    }
#else
    (void)impl;
#endif
    if (itemsize == 2)
        return delta ? decode_d16(in, inlen, n, out) : decode_u16(in, inlen, n, out);
    return delta ? decode_d32(in, inlen, n, out) : decode_u32(in, inlen, n, out);
}

/* Decode n values (n >= 0) into out, n items of itemsize (2 or 4) bytes. */
static int decode_impl(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n,
                       void *out, int itemsize, int delta)
{
    return decode_with(in, inlen, n, out, itemsize, delta, -1);
}

/* Set the ValueError of a decode that returned `status` (not SVB_OK); for
 * SVB_WIDE, name the first value that does not fit. */
static void decode_error(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n, int delta,
                         int status)
{
    if (status == SVB_SHORT) {
        PyErr_Format(PyExc_ValueError,
                     "streamvbyte payload of %zd bytes is too short for %zd values", inlen, n);
        return;
    }
    if (status == SVB_LONG) {
        PyErr_Format(PyExc_ValueError,
                     "streamvbyte payload of %zd bytes is longer than %zd values need", inlen, n);
        return;
    }
    uint32_t value = 0;
    Py_ssize_t i = first_wide(in, inlen, n, delta, &value);
    if (i < 0) /* the payload changed since it was decoded */
        PyErr_Format(PyExc_ValueError, "streamvbyte values do not fit %s",
                     delta ? "int16" : "uint16");
    else
        PyErr_Format(PyExc_ValueError, "streamvbyte value %lld (item %zd of %zd) does not fit %s",
                     delta ? (long long)(int32_t)value : (long long)value, i, n,
                     delta ? "int16" : "uint16");
}

/* Whether a buffer of len bytes may be read and written as items of itemsize:
 * aligned, or empty (numpy calls an empty array at any address aligned). */
static int is_aligned(const void *p, Py_ssize_t len, int itemsize)
{
    return len == 0 || ((uintptr_t)p % (uintptr_t)itemsize) == 0;
}

/* Loops specialised on the input type and on delta coding; each returns the
 * payload length. `out` has room for the worst case plus 3 bytes of slack. */
#define ENCODE_VALUE(J)                                                          \
    do {                                                                         \
        uint32_t v_ = (uint32_t)values[base + (J)]; /* int16_t sign-extends */   \
        if (delta_on) {                                                          \
            uint32_t d_ = v_ - prev; /* 32-bit wrap-around */                    \
            prev = v_;                                                           \
            v_ = (d_ << 1) ^ (uint32_t)((int32_t)d_ >> 31);                      \
        }                                                                        \
        v[J] = v_;                                                               \
    } while (0)

#define DEFINE_ENCODE(NAME, IN_T, DELTA)                                          \
    static Py_ssize_t NAME(const IN_T *values, Py_ssize_t n, uint8_t *out)       \
    {                                                                            \
        const int delta_on = (DELTA);                                            \
        Py_ssize_t nctrl = (n + 3) / 4, full = n / 4;                            \
        uint8_t *ctrl = out, *data = out + nctrl;                                \
        uint32_t prev = 0, v[4];                                                 \
        for (Py_ssize_t c = 0; c < full; c++) {                                  \
            Py_ssize_t base = c * 4;                                             \
            ENCODE_VALUE(0); ENCODE_VALUE(1); ENCODE_VALUE(2); ENCODE_VALUE(3);  \
            unsigned k0 = key_of(v[0]), k1 = key_of(v[1]);                       \
            unsigned k2 = key_of(v[2]), k3 = key_of(v[3]);                       \
            ctrl[c] = (uint8_t)(k0 | (k1 << 2) | (k2 << 4) | (k3 << 6));         \
            store_le(data, v[0]); data += k0 + 1;                                \
            store_le(data, v[1]); data += k1 + 1;                                \
            store_le(data, v[2]); data += k2 + 1;                                \
            store_le(data, v[3]); data += k3 + 1;                                \
        }                                                                        \
        if (full < nctrl) {                                                      \
            Py_ssize_t base = full * 4;                                          \
            unsigned keys = 0;                                                   \
            for (Py_ssize_t k = 0; base + k < n; k++) {                          \
                ENCODE_VALUE(k);                                                 \
                unsigned key = key_of(v[k]);                                     \
                keys |= key << (2 * k);                                          \
                store_le(data, v[k]);                                            \
                data += key + 1;                                                 \
            }                                                                    \
            ctrl[full] = (uint8_t)keys;                                          \
        }                                                                        \
        return data - out;                                                       \
    }

DEFINE_ENCODE(encode_i16, int16_t, 1)
DEFINE_ENCODE(encode_i32, int32_t, 1)
DEFINE_ENCODE(encode_u16, uint16_t, 0)
DEFINE_ENCODE(encode_u32, uint32_t, 0)
DEFINE_ENCODE(encode_zu16, uint16_t, 1)
DEFINE_ENCODE(encode_zu32, uint32_t, 1)
DEFINE_ENCODE(encode_pi16, int16_t, 0)
DEFINE_ENCODE(encode_pi32, int32_t, 0)

static Py_ssize_t encode_impl(const void *values, Py_ssize_t n, int itemsize,
                              int is_signed, int delta, uint8_t *out)
{
    if (itemsize == 2) {
        if (is_signed)
            return delta ? encode_i16(values, n, out) : encode_pi16(values, n, out);
        return delta ? encode_zu16(values, n, out) : encode_u16(values, n, out);
    }
    if (is_signed)
        return delta ? encode_i32(values, n, out) : encode_pi32(values, n, out);
    return delta ? encode_zu32(values, n, out) : encode_u32(values, n, out);
}

static PyObject *kernels_decode(PyObject *self, PyObject *args)
{
    Py_buffer in, out;
    Py_ssize_t count;
    int itemsize, delta, impl = -1;
    if (!PyArg_ParseTuple(args, "y*nw*ip|i", &in, &count, &out, &itemsize, &delta, &impl))
        return NULL;
    PyObject *result = NULL;
    if (itemsize != 2 && itemsize != 4) {
        PyErr_Format(PyExc_ValueError, "itemsize must be 2 or 4, got %d", itemsize);
    } else if (impl == 1 && !simd_supported()) {
        PyErr_SetString(PyExc_ValueError, "this CPU has no SSSE3 and SSE4.1 for the SIMD loops");
    } else if (count < 0) {
        PyErr_Format(PyExc_ValueError, "count must be >= 0, got %zd", count);
    } else if (!PyBuffer_IsContiguous(&out, 'C') || !PyBuffer_IsContiguous(&in, 'C')) {
        PyErr_SetString(PyExc_ValueError, "buffers must be C-contiguous");
    } else if (!is_aligned(out.buf, out.len, itemsize)) {
        PyErr_Format(PyExc_ValueError, "out is not aligned to %d bytes", itemsize);
    } else if (out.len % itemsize != 0 || out.len / itemsize != count) {
        /* no count * itemsize: it could overflow */
        PyErr_Format(PyExc_ValueError, "out holds %zd bytes, not %zd values of %d bytes",
                     out.len, count, itemsize);
    } else {
        int status;
        Py_BEGIN_ALLOW_THREADS
        status = decode_with((const uint8_t *)in.buf, in.len, count, out.buf, itemsize, delta,
                             impl);
        Py_END_ALLOW_THREADS
        if (status != SVB_OK) {
            decode_error((const uint8_t *)in.buf, in.len, count, delta, status);
        } else {
            Py_INCREF(Py_None);
            result = Py_None;
        }
    }
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *kernels_encode(PyObject *self, PyObject *args)
{
    Py_buffer values;
    int itemsize, is_signed, delta;
    if (!PyArg_ParseTuple(args, "y*ipp", &values, &itemsize, &is_signed, &delta))
        return NULL;
    PyObject *result = NULL;
    if ((itemsize != 2 && itemsize != 4) || values.len % itemsize) {
        PyErr_SetString(PyExc_ValueError, "values must be a whole number of 2- or 4-byte items");
    } else if (!PyBuffer_IsContiguous(&values, 'C')) {
        PyErr_SetString(PyExc_ValueError, "values must be C-contiguous");
    } else if (!is_aligned(values.buf, values.len, itemsize)) {
        PyErr_Format(PyExc_ValueError, "values are not aligned to %d bytes", itemsize);
    } else if (values.len / itemsize > (PY_SSIZE_T_MAX - 4) / 5) {
        PyErr_Format(PyExc_ValueError, "%zd values are too many for one payload",
                     values.len / itemsize);
    } else {
        Py_ssize_t n = values.len / itemsize;
        /* worst case, plus 3 bytes of slack for the 4-byte stores: <= 5n + 4 */
        result = PyBytes_FromStringAndSize(NULL, n / 4 + (n % 4 != 0) + 4 * n + 3);
        if (result != NULL) {
            Py_ssize_t size;
            uint8_t *buf = (uint8_t *)PyBytes_AS_STRING(result);
            Py_BEGIN_ALLOW_THREADS
            size = encode_impl(values.buf, n, itemsize, is_signed, delta, buf);
            Py_END_ALLOW_THREADS
            if (_PyBytes_Resize(&result, size) < 0)
                result = NULL;
        }
    }
    PyBuffer_Release(&values);
    return result;
}

/* encode_many(parts, counts, itemsize, signed, delta) -> (payloads, segments)
 * Encode many payloads with the GIL released once. Payload i is the next
 * counts[i] values of the buffers in `parts`, taken in order (a part holds
 * whole payloads back to back; none straddles two parts, and every part is used
 * up). `payloads` holds the payloads back to back; `segments` one (offset,
 * length) pair of uint64 per payload, the layout of zstandard's
 * BufferWithSegments. */
static PyObject *kernels_encode_many(PyObject *self, PyObject *args)
{
    PyObject *parts_arg;
    Py_buffer counts_buf;
    int itemsize, is_signed, delta;
    if (!PyArg_ParseTuple(args, "Oy*ipp", &parts_arg, &counts_buf, &itemsize, &is_signed,
                          &delta))
        return NULL;
    PyObject *result = NULL, *parts = NULL, *payloads = NULL, *segments = NULL;
    Py_buffer *views = NULL;
    int64_t *counts = NULL;
    Py_ssize_t n = 0, n_parts = 0, acquired = 0;
    if (itemsize != 2 && itemsize != 4) {
        PyErr_Format(PyExc_ValueError, "itemsize must be 2 or 4, got %d", itemsize);
        goto done;
    }
    if (counts_buf.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "counts must be int64 values");
        goto done;
    }
    n = counts_buf.len / 8;
    /* a tuple: Python code run while a part exports its buffer cannot resize it */
    parts = PySequence_Tuple(parts_arg);
    if (parts == NULL)
        goto done;
    n_parts = PyTuple_GET_SIZE(parts);
    counts = PyMem_Malloc(n ? (size_t)n * sizeof(int64_t) : 1);
    views = PyMem_Calloc((size_t)(n_parts ? n_parts : 1), sizeof(Py_buffer));
    if (counts == NULL || views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(counts, counts_buf.buf, (size_t)n * sizeof(int64_t));
    for (; acquired < n_parts; acquired++) {
        Py_buffer *v = &views[acquired];
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(parts, acquired), v, PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (v->len % itemsize != 0 || !is_aligned(v->buf, v->len, itemsize)) {
            PyErr_Format(PyExc_ValueError,
                         "part %zd is not a whole, aligned number of %d-byte items", acquired,
                         itemsize);
            acquired++;
            goto done;
        }
    }
    /* check the payloads against the parts, and add up the worst case (a control
     * byte per 4 values, and 4 bytes a value at most; 3 for 16-bit values unless
     * sign-extended without delta), without overflow */
    Py_ssize_t widest = (itemsize == 2 && (delta || !is_signed)) ? 3 : 4;
    Py_ssize_t part = 0, left = n_parts ? views[0].len / itemsize : 0, worst = 3;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t c = counts[i];
        while (c > 0 && left == 0 && part + 1 < n_parts)
            left = views[++part].len / itemsize;
        if (c < 0 || c > (int64_t)left) {
            PyErr_Format(PyExc_ValueError,
                         "payload %zd: %lld values do not fit what is left of part %zd (%zd)", i,
                         (long long)c, part, left);
            goto done;
        }
        left -= (Py_ssize_t)c;
        Py_ssize_t need = (Py_ssize_t)c / 4 + (c % 4 != 0) + widest * (Py_ssize_t)c;
        if (need > PY_SSIZE_T_MAX - worst) {
            PyErr_SetString(PyExc_ValueError, "the payloads are too large");
            goto done;
        }
        worst += need;
    }
    while (left == 0 && part + 1 < n_parts)
        left = views[++part].len / itemsize;
    if (left != 0 || part + 1 < n_parts) {
        PyErr_Format(PyExc_ValueError, "%zd values of part %zd are left over", left, part);
        goto done;
    }
    payloads = PyBytes_FromStringAndSize(NULL, worst);
    segments = PyBytes_FromStringAndSize(NULL, n * 16);
    if (payloads == NULL || segments == NULL)
        goto done;
    Py_ssize_t size = 0;
    {
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(payloads);
        uint64_t *segs = (uint64_t *)PyBytes_AS_STRING(segments);
        Py_BEGIN_ALLOW_THREADS
        Py_ssize_t p = 0, at = 0; /* part, item position inside it */
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t c = (Py_ssize_t)counts[i];
            while (c > 0 && at == views[p].len / itemsize) {
                p++;
                at = 0;
            }
            const char *values = c > 0 ? (const char *)views[p].buf + at * itemsize : NULL;
            Py_ssize_t len = c > 0 ? encode_impl(values, c, itemsize, is_signed, delta, out + size)
                                   : 0;
            segs[2 * i] = (uint64_t)size;
            segs[2 * i + 1] = (uint64_t)len;
            size += len;
            at += c;
        }
        Py_END_ALLOW_THREADS
    }
    if (_PyBytes_Resize(&payloads, size) < 0)
        goto done; /* payloads is NULL now */
    result = PyTuple_Pack(2, payloads, segments);
done:
    for (Py_ssize_t i = 0; i < acquired; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(counts);
    Py_XDECREF(parts);
    Py_XDECREF(payloads);
    Py_XDECREF(segments);
    PyBuffer_Release(&counts_buf);
    return result;
}

/* Check payload i's span, counts[i] values at positions[i], against an out of
 * `capacity` items; without overflow, whatever the int64s hold. */
static int span_fits(Py_ssize_t i, int64_t count, int64_t position, Py_ssize_t capacity)
{
    if (count < 0 || position < 0 || position > (int64_t)capacity ||
        count > (int64_t)capacity - position) {
        PyErr_Format(PyExc_ValueError,
                     "payload %zd: %lld values at position %lld do not fit out of %zd items", i,
                     (long long)count, (long long)position, capacity);
        return 0;
    }
    return 1;
}

/* decode_many(payloads, counts, positions, out, itemsize, delta) -> int
 * Decode payloads[i] (counts[i] values) into out[positions[i]:], all with the
 * GIL released once. counts and positions are int64 buffers, copied and checked
 * (every span inside out) before anything is decoded. Returns -1 when every
 * payload decoded, else the index of the first one that did not (the caller
 * names it); out is then partly written. */
static PyObject *kernels_decode_many(PyObject *self, PyObject *args)
{
    PyObject *seq_arg;
    Py_buffer counts_buf, positions_buf, out;
    int itemsize, delta;
    if (!PyArg_ParseTuple(args, "Oy*y*w*ip", &seq_arg, &counts_buf, &positions_buf, &out,
                          &itemsize, &delta))
        return NULL;
    PyObject *result = NULL, *seq = NULL;
    Py_buffer *views = NULL;
    int64_t *spans = NULL; /* n counts, then n positions: a private copy, checked once */
    Py_ssize_t n = 0, acquired = 0;
    if (itemsize != 2 && itemsize != 4) {
        PyErr_Format(PyExc_ValueError, "itemsize must be 2 or 4, got %d", itemsize);
        goto done;
    }
    if (!is_aligned(out.buf, out.len, itemsize) || out.len % itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "out is not a whole, aligned number of %d-byte items",
                     itemsize);
        goto done;
    }
    /* a tuple: Python code run while a payload exports its buffer cannot resize it */
    seq = PySequence_Tuple(seq_arg);
    if (seq == NULL)
        goto done;
    n = PyTuple_GET_SIZE(seq);
    if (counts_buf.len % 8 != 0 || counts_buf.len / 8 != n || positions_buf.len % 8 != 0 ||
        positions_buf.len / 8 != n) {
        PyErr_Format(PyExc_ValueError,
                     "counts and positions need one int64 per payload: %zd payloads, "
                     "%zd and %zd bytes",
                     n, counts_buf.len, positions_buf.len);
        goto done;
    }
    /* 16 n bytes: n <= PY_SSIZE_T_MAX / 8, the length of counts */
    spans = PyMem_Malloc(n ? (size_t)n * 2 * sizeof(int64_t) : 1);
    if (spans == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(spans, counts_buf.buf, (size_t)n * sizeof(int64_t));
    memcpy(spans + n, positions_buf.buf, (size_t)n * sizeof(int64_t));
    Py_ssize_t capacity = out.len / itemsize;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!span_fits(i, spans[i], spans[n + i], capacity))
            goto done;
    }
    views = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_buffer));
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; acquired < n; acquired++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(seq, acquired), &views[acquired], PyBUF_SIMPLE) <
            0)
            goto done;
    }
    Py_ssize_t failed = -1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        /* positions[i] <= capacity, so the offset stays inside out */
        char *target = (char *)out.buf + (Py_ssize_t)spans[n + i] * itemsize;
        if (decode_impl((const uint8_t *)views[i].buf, views[i].len, (Py_ssize_t)spans[i], target,
                        itemsize, delta) != SVB_OK) {
            failed = i;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(failed);
done:
    for (Py_ssize_t i = 0; i < acquired; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(spans);
    Py_XDECREF(seq);
    PyBuffer_Release(&counts_buf);
    PyBuffer_Release(&positions_buf);
    PyBuffer_Release(&out);
    return result;
}

/* --- zstd in C: whole batches of frames decoded without the GIL -----------------
 * libzstd is loaded with dlopen (no headers or link flags needed to build; a
 * system without it keeps the Python path: zstd_version() is 0). Its stable ABI
 * functions only are used. Each thread keeps one decompression context and one
 * scratch buffer (freed when the thread ends). */
#if defined(__unix__) || defined(__APPLE__)
#define XSZ_ZSTD 1
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#define ZSTD_CONTENTSIZE_UNKNOWN (0ULL - 1)
#define ZSTD_CONTENTSIZE_ERROR (0ULL - 2)
typedef struct ZSTD_DCtx_s ZSTD_DCtx;
static struct {
    unsigned (*versionNumber)(void);
    ZSTD_DCtx *(*createDCtx)(void);
    size_t (*freeDCtx)(ZSTD_DCtx *);
    size_t (*decompressDCtx)(ZSTD_DCtx *, void *, size_t, const void *, size_t);
    unsigned long long (*getFrameContentSize)(const void *, size_t);
    size_t (*findFrameCompressedSize)(const void *, size_t);
    unsigned (*isError)(size_t);
} ZSTD;
static unsigned ZSTD_VERSION = 0; /* 0: not loaded */
static pthread_key_t ZSTD_KEY;

struct zstd_local {
    ZSTD_DCtx *dctx;
    uint8_t *buf;
    size_t cap;
};

static void zstd_local_free(void *p)
{
    struct zstd_local *local = p;
    if (local == NULL)
        return;
    if (local->dctx != NULL)
        ZSTD.freeDCtx(local->dctx);
    free(local->buf);
    free(local);
}

static void load_zstd(void)
{
    static const char *names[] = {"libzstd.so.1", "libzstd.so", "libzstd.1.dylib",
                                  "libzstd.dylib", NULL};
    if (getenv("XSZ_NO_LIBZSTD") != NULL)
        return;
    void *lib = NULL;
    for (int k = 0; names[k] != NULL && lib == NULL; k++)
        lib = dlopen(names[k], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return;
#define ZSYM(FIELD, NAME)                                                        \
    do {                                                                         \
        *(void **)(&ZSTD.FIELD) = dlsym(lib, NAME);                              \
        if (ZSTD.FIELD == NULL)                                                  \
            return;                                                              \
    } while (0)
    ZSYM(versionNumber, "ZSTD_versionNumber");
    ZSYM(createDCtx, "ZSTD_createDCtx");
    ZSYM(freeDCtx, "ZSTD_freeDCtx");
    ZSYM(decompressDCtx, "ZSTD_decompressDCtx");
    ZSYM(getFrameContentSize, "ZSTD_getFrameContentSize");
    ZSYM(findFrameCompressedSize, "ZSTD_findFrameCompressedSize");
    ZSYM(isError, "ZSTD_isError");
#undef ZSYM
    unsigned version = ZSTD.versionNumber();
    if (version < 10400 || pthread_key_create(&ZSTD_KEY, zstd_local_free) != 0)
        return; /* the library stays loaded, unused */
    ZSTD_VERSION = version;
}

/* This thread's context and scratch buffer; NULL when out of memory. */
static struct zstd_local *zstd_local(void)
{
    struct zstd_local *local = pthread_getspecific(ZSTD_KEY);
    if (local != NULL)
        return local;
    local = calloc(1, sizeof *local);
    if (local == NULL)
        return NULL;
    local->dctx = ZSTD.createDCtx();
    if (local->dctx == NULL || pthread_setspecific(ZSTD_KEY, local) != 0) {
        zstd_local_free(local);
        return NULL;
    }
    return local;
}

/* Scratch buffers above this are freed after each call, not kept. */
#define SCRATCH_KEEP ((size_t)1 << 24)

enum { KIND_SVB = 0, KIND_DELTA = 1, KIND_RAW = 2 };

/* Decode the frame at src (len bytes) into `target`, count items of itemsize:
 * 1 when it decoded, 0 when it did not (the caller's Python path then says why,
 * or decodes what this refuses). As the Python path: the first zstd frame of
 * the bytes (what follows it is not read), its content size (when recorded) no
 * more than the count allows, zstd's content checksum checked when the frame
 * has one; then the payload exactly `count` values (streamvbyte: see decode_with)
 * or `count` raw items. Runs without the GIL. */
static int frame_into(struct zstd_local *local, const uint8_t *src, size_t len, size_t count,
                      void *target, int kind, int itemsize, int impl)
{
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (len < 4 || memcmp(src, magic, 4) != 0)
        return 0;
    size_t flen = ZSTD.findFrameCompressedSize(src, len);
    if (ZSTD.isError(flen) || flen > len)
        return 0;
    unsigned long long fcs = ZSTD.getFrameContentSize(src, flen);
    if (fcs == ZSTD_CONTENTSIZE_ERROR)
        return 0;
    if (kind == KIND_RAW) {
        size_t want = count * (size_t)itemsize; /* the bytes of target: no overflow */
        if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != want)
            return 0;
        size_t got = ZSTD.decompressDCtx(local->dctx, target, want, src, flen);
        return !ZSTD.isError(got) && got == want;
    }
    if (count > ((size_t)-1 - 4) / 5)
        return 0;
    size_t cap = 5 * count + 4; /* the most a payload of count values takes */
    if (fcs != ZSTD_CONTENTSIZE_UNKNOWN) {
        if (fcs > cap)
            return 0;
        cap = (size_t)fcs;
    }
    if (local->cap < cap || local->buf == NULL) {
        uint8_t *buf = malloc(cap ? cap : 1);
        if (buf == NULL)
            return 0;
        free(local->buf);
        local->buf = buf;
        local->cap = cap;
    }
    size_t got = ZSTD.decompressDCtx(local->dctx, local->buf, cap, src, flen);
    if (ZSTD.isError(got) || (fcs != ZSTD_CONTENTSIZE_UNKNOWN && got != fcs))
        return 0;
    return decode_with(local->buf, (Py_ssize_t)got, (Py_ssize_t)count, target, itemsize,
                       kind == KIND_DELTA, impl) == SVB_OK;
}

static void scratch_trim(struct zstd_local *local)
{
    if (local->cap > SCRATCH_KEEP) {
        free(local->buf);
        local->buf = NULL;
        local->cap = 0;
    }
}
#define ZSTD_VERSION_OR_0() ZSTD_VERSION
#else
#define ZSTD_VERSION_OR_0() 0u
static void load_zstd(void) {}
#endif /* XSZ_ZSTD */

/* Called once, by init_groups() at import: the SIMD shuffle tables, whether the
 * SIMD loops are used (the CPU has SSSE3 and SSE4.1, XSZ_NO_SIMD unset), libzstd. */
static void init_decode_paths(void)
{
#ifdef XSZ_SIMD
    init_shuf();
#endif
    SIMD_ON = simd_supported() && getenv("XSZ_NO_SIMD") == NULL;
    load_zstd();
}

/* The arguments shared by decode_frame and decode_frames: kind, itemsize, impl. */
static int check_kind(int kind, int itemsize, int impl)
{
    if (kind != 0 && kind != 1 && kind != 2) {
        PyErr_Format(PyExc_ValueError, "kind must be 0 (svb), 1 (delta) or 2 (raw), got %d", kind);
        return 0;
    }
    if (kind == 2 ? (itemsize != 2 && itemsize != 4 && itemsize != 8 && itemsize != 16)
                  : (itemsize != 2 && itemsize != 4)) {
        PyErr_Format(PyExc_ValueError, "itemsize %d does not go with kind %d", itemsize, kind);
        return 0;
    }
    if (impl == 1 && !simd_supported()) {
        PyErr_SetString(PyExc_ValueError, "this CPU has no SSSE3 and SSE4.1 for the SIMD loops");
        return 0;
    }
    if (ZSTD_VERSION_OR_0() == 0) {
        PyErr_SetString(PyExc_ValueError, "libzstd was not loaded (zstd_version() is 0)");
        return 0;
    }
    return 1;
}

/* decode_frame(frame, count, out, kind, itemsize, impl=-1) -> bool
 * One zstd frame straight into out (count items of itemsize bytes, C-contiguous
 * and aligned), the GIL released: True when it decoded; False when it did not
 * (the Python path then names the damage, or decodes what this refuses). */
static PyObject *kernels_decode_frame(PyObject *self, PyObject *args)
{
    Py_buffer frame, out;
    Py_ssize_t count;
    int kind, itemsize, impl = -1;
    if (!PyArg_ParseTuple(args, "y*nw*ii|i", &frame, &count, &out, &kind, &itemsize, &impl))
        return NULL;
    PyObject *result = NULL;
    if (!check_kind(kind, itemsize, impl)) {
    } else if (count < 0) {
        PyErr_Format(PyExc_ValueError, "count must be >= 0, got %zd", count);
    } else if (!PyBuffer_IsContiguous(&out, 'C') || !PyBuffer_IsContiguous(&frame, 'C')) {
        PyErr_SetString(PyExc_ValueError, "buffers must be C-contiguous");
    } else if (!is_aligned(out.buf, out.len, itemsize > 8 ? 8 : itemsize)) {
        PyErr_Format(PyExc_ValueError, "out is not aligned to %d bytes", itemsize);
    } else if (out.len % itemsize != 0 || out.len / itemsize != count) {
        PyErr_Format(PyExc_ValueError, "out holds %zd bytes, not %zd values of %d bytes",
                     out.len, count, itemsize);
    } else {
#ifdef XSZ_ZSTD
        int ok = 0;
        Py_BEGIN_ALLOW_THREADS
        struct zstd_local *local = zstd_local();
        if (local != NULL) {
            ok = frame_into(local, frame.buf, (size_t)frame.len, (size_t)count, out.buf, kind,
                            itemsize, impl);
            scratch_trim(local);
        }
        Py_END_ALLOW_THREADS
        result = PyBool_FromLong(ok);
#endif
    }
    PyBuffer_Release(&frame);
    PyBuffer_Release(&out);
    return result;
}

/* decode_frames(blocks, frames, out, kind, itemsize, first, impl=-1) -> int
 * Frames of many blocks into one out, the GIL released once for the batch.
 * `frames` is an int64 buffer of 5 n values: for each frame its block (an index
 * into the sequence `blocks` of buffers), its start and size in that block, its
 * count and its position in out. All are copied and checked (each frame within
 * its block, each span within out) before anything is decoded; a ValueError
 * names the first that is not. Frames `first` .. n-1 are decoded in order:
 * returns -1 when all decoded, else the index of the first that did not
 * (frame_into's verdict; out may be written in part). */
static PyObject *kernels_decode_frames(PyObject *self, PyObject *args)
{
    PyObject *seq_arg;
    Py_buffer frames_buf, out;
    int kind, itemsize, impl = -1;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "Oy*w*iin|i", &seq_arg, &frames_buf, &out, &kind, &itemsize,
                          &first, &impl))
        return NULL;
    PyObject *result = NULL, *seq = NULL;
    Py_buffer *views = NULL;
    int64_t *rows = NULL;
    Py_ssize_t n = 0, nblocks = 0, acquired = 0;
    if (!check_kind(kind, itemsize, impl))
        goto done;
    if (!is_aligned(out.buf, out.len, itemsize > 8 ? 8 : itemsize) || out.len % itemsize != 0 ||
        !PyBuffer_IsContiguous(&out, 'C')) {
        PyErr_Format(PyExc_ValueError,
                     "out is not a whole, aligned, contiguous number of %d-byte items", itemsize);
        goto done;
    }
    if (frames_buf.len % 40 != 0) {
        PyErr_Format(PyExc_ValueError, "frames need 5 int64 a frame, got %zd bytes",
                     frames_buf.len);
        goto done;
    }
    n = frames_buf.len / 40;
    if (first < 0 || first > n) {
        PyErr_Format(PyExc_ValueError, "first must be in 0 .. %zd, got %zd", n, first);
        goto done;
    }
    seq = PySequence_Tuple(seq_arg); /* a tuple: no block can go while they are read */
    if (seq == NULL)
        goto done;
    nblocks = PyTuple_GET_SIZE(seq);
    rows = PyMem_Malloc(n ? (size_t)frames_buf.len : 1);
    views = PyMem_Calloc((size_t)(nblocks ? nblocks : 1), sizeof(Py_buffer));
    if (rows == NULL || views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(rows, frames_buf.buf, (size_t)frames_buf.len);
    for (; acquired < nblocks; acquired++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(seq, acquired), &views[acquired], PyBUF_SIMPLE) <
            0)
            goto done;
    }
    Py_ssize_t capacity = out.len / itemsize;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t *r = rows + 5 * i; /* block, start, size, count, position */
        if (r[0] < 0 || r[0] >= nblocks || r[1] < 0 || r[2] < 0 ||
            r[1] > (int64_t)views[r[0]].len || r[2] > (int64_t)views[r[0]].len - r[1]) {
            PyErr_Format(PyExc_ValueError,
                         "frame %zd: block %lld, bytes [%lld, +%lld) are not within a block", i,
                         (long long)r[0], (long long)r[1], (long long)r[2]);
            goto done;
        }
        if (!span_fits(i, r[3], r[4], capacity))
            goto done;
    }
    Py_ssize_t failed = -1;
#ifdef XSZ_ZSTD
    Py_BEGIN_ALLOW_THREADS
    struct zstd_local *local = zstd_local();
    if (local == NULL) {
        failed = first < n ? first : -1;
    } else {
        for (Py_ssize_t i = first; i < n; i++) {
            const int64_t *r = rows + 5 * i;
            const uint8_t *src = (const uint8_t *)views[r[0]].buf + r[1];
            char *target = (char *)out.buf + (Py_ssize_t)r[4] * itemsize;
            if (!frame_into(local, src, (size_t)r[2], (size_t)r[3], target, kind, itemsize,
                            impl)) {
                failed = i;
                break;
            }
        }
        scratch_trim(local);
    }
    Py_END_ALLOW_THREADS
#endif
    result = PyLong_FromSsize_t(failed);
done:
    for (Py_ssize_t i = 0; i < acquired; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(rows);
    Py_XDECREF(seq);
    PyBuffer_Release(&frames_buf);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *kernels_zstd_version(PyObject *self, PyObject *noargs)
{
    return PyLong_FromUnsignedLong(ZSTD_VERSION_OR_0());
}

static PyObject *kernels_simd_supported(PyObject *self, PyObject *noargs)
{
    return PyBool_FromLong(simd_supported());
}

static PyObject *kernels_simd_enabled(PyObject *self, PyObject *noargs)
{
    return PyBool_FromLong(SIMD_ON);
}

static PyMethodDef kernels_methods[] = {
    {"decode_many", kernels_decode_many, METH_VARARGS,
     "decode_many(payloads, counts, positions, out, itemsize, delta) -> int: many payloads "
     "into out at once; -1, or the index of the first that failed."},
    {"decode", kernels_decode, METH_VARARGS,
     "decode(payload, count, out, itemsize, delta, impl=-1) -> None: streamvbyte "
     "(+zigzag-delta) into out; impl -1 default, 0 scalar, 1 SIMD loops."},
    {"decode_frame", kernels_decode_frame, METH_VARARGS,
     "decode_frame(frame, count, out, kind, itemsize, impl=-1) -> bool: one zstd frame "
     "into out (kind 0 svb, 1 delta, 2 raw); False when it did not decode."},
    {"decode_frames", kernels_decode_frames, METH_VARARGS,
     "decode_frames(blocks, frames, out, kind, itemsize, first, impl=-1) -> int: many zstd "
     "frames into out at once; -1, or the index of the first that did not decode."},
    {"zstd_version", kernels_zstd_version, METH_NOARGS,
     "zstd_version() -> int: the version number of the libzstd loaded, 0 when none was."},
    {"simd_supported", kernels_simd_supported, METH_NOARGS,
     "simd_supported() -> bool: whether this CPU runs the SIMD loops (SSSE3 and SSE4.1)."},
    {"simd_enabled", kernels_simd_enabled, METH_NOARGS,
     "simd_enabled() -> bool: whether decoding uses the SIMD loops by default."},
    {"encode", kernels_encode, METH_VARARGS,
     "encode(values, itemsize, signed, delta) -> bytes: streamvbyte (+zigzag-delta) of values."},
    {"encode_many", kernels_encode_many, METH_VARARGS,
     "encode_many(parts, counts, itemsize, signed, delta) -> (payloads, segments): many "
     "payloads at once, back to back, with their (offset, length) uint64 pairs."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "Fused streamvbyte kernels for svb-zstd payloads (GIL released).", -1, kernels_methods,
};

static int add_import_kernels(PyObject *module); /* pod5 import, at the end */

PyMODINIT_FUNC PyInit__kernels(void)
{
    init_groups();
    PyObject *module = PyModule_Create(&kernels_module);
    if (module != NULL && add_import_kernels(module) < 0)
        Py_CLEAR(module);
    return module;
}

/* ===================================================================================
 * pod5 import (xsz.convert): VBZ signal chunks to SZ payloads, and frames' CRC-32.
 *
 * vbz_to_svb(chunks, samples, read_chunks) -> (payloads, segments, failed)
 *     `chunks` is a sequence of buffers, each the zstd-decompressed content of one
 *     pod5 VBZ signal chunk: svb16 (1-bit keys: ceil(n/8) key bytes, then each
 *     value in 1 or 2 little-endian bytes) of zigzag-coded 16-bit deltas, the
 *     first from 0. `samples` (int64) holds each chunk's sample count and
 *     `read_chunks` (int64, n_reads + 1) where each read's chunks start. Returns
 *     the SZ I16 payloads of the reads back to back (the bytes `encode` makes of
 *     the read's int16 samples), their (offset, length) as uint64 pairs, and -1;
 *     or (None, None, k) when read k has a chunk whose length does not fit its
 *     count and keys (nothing is read out of bounds).
 *
 * join_crc(frames) -> (blob, crcs, sizes)
 *     The buffers of `frames` back to back, the CRC-32 (zlib's) of each as
 *     uint32s and the length of each as int64s.
 * =================================================================================== */

static Py_ssize_t svb16_length(const uint8_t *keys, Py_ssize_t n)
{
    /* bytes of an svb16 chunk of n values with these keys (key bits past n ignored) */
    Py_ssize_t full = n / 8, twos = 0;
    for (Py_ssize_t k = 0; k < full; k++)
        twos += __builtin_popcount(keys[k]);
    if (n % 8)
        twos += __builtin_popcount(keys[full] & ((1u << (n % 8)) - 1u));
    return (n + 7) / 8 + n + twos;
}

/* Decode one svb16 chunk of n values, len bytes, into out, as pod5 does (16-bit
 * wrap-around deltas from 0). The caller checked len with svb16_length. */
static void svb16_decode(const uint8_t *in, Py_ssize_t len, Py_ssize_t n, int16_t *out)
{
    const uint8_t *keys = in, *data = in + (n + 7) / 8, *end = in + len;
    uint16_t prev = 0;
    Py_ssize_t i = 0;
    /* 8 values at a time while 16 bytes remain: data[1] is always in bounds */
    for (; i + 8 <= n && end - data >= 16; i += 8) {
        unsigned key = keys[i / 8];
        for (unsigned j = 0; j < 8; j++) {
            unsigned two = (key >> j) & 1u;
            uint16_t v = (uint16_t)(data[0] | ((unsigned)data[1] << 8 & (0u - two)));
            data += 1 + two;
            prev = (uint16_t)(prev + ((v >> 1) ^ (uint16_t)(0u - (v & 1u))));
            out[i + j] = (int16_t)prev;
        }
    }
    for (; i < n; i++) {
        unsigned two = (keys[i / 8] >> (i % 8)) & 1u;
        uint16_t v = two ? (uint16_t)(data[0] | (unsigned)data[1] << 8) : data[0];
        data += 1 + two;
        prev = (uint16_t)(prev + ((v >> 1) ^ (uint16_t)(0u - (v & 1u))));
        out[i] = (int16_t)prev;
    }
}


/* x86 with SSSE3 (checked at run time): svb16_decode 8 values at a time through a
 * byte shuffle (twice as fast, measured). Elsewhere, or on an older CPU, or with
 * XSZ_NO_SIMD set in the environment, svb16_decode does the work. (A shuffle
 * encoder of streamvbyte measured slower than encode_i16 here, so there is none.) */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define XSZ_SSSE3 1
static uint8_t SVB16_SHUF[256][16]; /* key byte -> where each of 8 lanes' 2 bytes come from */
static int HAVE_SSSE3;

static void init_shuffles(void)
{
    for (int key = 0; key < 256; key++) {
        int at = 0;
        for (int j = 0; j < 8; j++) {
            int two = (key >> j) & 1;
            SVB16_SHUF[key][2 * j] = (uint8_t)at++;
            SVB16_SHUF[key][2 * j + 1] = two ? (uint8_t)at++ : 0x80;
        }
    }
    __builtin_cpu_init();
    HAVE_SSSE3 = __builtin_cpu_supports("ssse3") && getenv("XSZ_NO_SIMD") == NULL;
}

__attribute__((target("ssse3")))
static void svb16_decode_ssse3(const uint8_t *in, Py_ssize_t len, Py_ssize_t n, int16_t *out)
{
    const uint8_t *keys = in, *data = in + (n + 7) / 8, *end = in + len;
    __m128i prev = _mm_setzero_si128(); /* the last value, in every lane */
    const __m128i one = _mm_set1_epi16(1), zero = _mm_setzero_si128();
    Py_ssize_t i = 0;
    for (; i + 8 <= n && end - data >= 16; i += 8) {
        unsigned key = keys[i / 8];
        __m128i v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)data),
                                     _mm_loadu_si128((const __m128i *)SVB16_SHUF[key]));
        data += 8 + __builtin_popcount(key);
        v = _mm_xor_si128(_mm_srli_epi16(v, 1), _mm_sub_epi16(zero, _mm_and_si128(v, one)));
        v = _mm_add_epi16(v, _mm_slli_si128(v, 2));
        v = _mm_add_epi16(v, _mm_slli_si128(v, 4));
        v = _mm_add_epi16(v, _mm_slli_si128(v, 8));
        v = _mm_add_epi16(v, prev);
        _mm_storeu_si128((__m128i *)(out + i), v);
        prev = _mm_shuffle_epi8(v, _mm_set1_epi16(0x0f0e));
    }
    uint16_t last = (uint16_t)_mm_cvtsi128_si32(prev);
    for (; i < n; i++) {
        unsigned two = (keys[i / 8] >> (i % 8)) & 1u;
        uint16_t v = two ? (uint16_t)(data[0] | (unsigned)data[1] << 8) : data[0];
        data += 1 + two;
        last = (uint16_t)(last + ((v >> 1) ^ (uint16_t)(0u - (v & 1u))));
        out[i] = (int16_t)last;
    }
}

#else
static void init_shuffles(void) {}
#endif

static void transcode_chunk(const uint8_t *in, Py_ssize_t len, Py_ssize_t n, int16_t *out)
{
#ifdef XSZ_SSSE3
    if (HAVE_SSSE3) {
        svb16_decode_ssse3(in, len, n, out);
        return;
    }
#endif
    svb16_decode(in, len, n, out);
}

static PyObject *kernels_vbz_to_svb(PyObject *self, PyObject *args)
{
    PyObject *chunks_obj, *result = NULL, *seq = NULL, *payloads = NULL, *segments = NULL;
    Py_buffer samples_buf = {0}, reads_buf = {0};
    Py_buffer *views = NULL;
    Py_ssize_t n_views = 0;
    int16_t *tmp = NULL;
    if (!PyArg_ParseTuple(args, "Oy*y*", &chunks_obj, &samples_buf, &reads_buf))
        return NULL;
    seq = PySequence_Fast(chunks_obj, "chunks must be a sequence of buffers");
    if (seq == NULL)
        goto done;
    Py_ssize_t n_chunks = PySequence_Fast_GET_SIZE(seq);
    if (samples_buf.len != n_chunks * (Py_ssize_t)sizeof(int64_t) ||
        reads_buf.len % (Py_ssize_t)sizeof(int64_t) || reads_buf.len < (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "samples must be one int64 a chunk, read_chunks n_reads + 1");
        goto done;
    }
    const int64_t *samples = (const int64_t *)samples_buf.buf;
    const int64_t *starts = (const int64_t *)reads_buf.buf;
    Py_ssize_t n_reads = reads_buf.len / (Py_ssize_t)sizeof(int64_t) - 1;
    if (starts[0] != 0 || starts[n_reads] != n_chunks) {
        PyErr_SetString(PyExc_ValueError, "read_chunks must run from 0 to the number of chunks");
        goto done;
    }
    Py_ssize_t total = 0, longest = 0;
    for (Py_ssize_t r = 0; r < n_reads; r++) {
        if (starts[r + 1] < starts[r]) {
            PyErr_SetString(PyExc_ValueError, "read_chunks must not decrease");
            goto done;
        }
        int64_t n = 0;
        for (int64_t c = starts[r]; c < starts[r + 1]; c++) {
            if (samples[c] < 0 || samples[c] > ((int64_t)1 << 40) || n > ((int64_t)1 << 40)) {
                PyErr_Format(PyExc_ValueError, "chunk %lld: bad sample count %lld", (long long)c,
                             (long long)samples[c]);
                goto done;
            }
            n += samples[c];
        }
        if (n > longest)
            longest = (Py_ssize_t)n;
        /* zigzag deltas of int16 values take at most 3 bytes; 3 bytes of slack */
        Py_ssize_t room = (Py_ssize_t)(n / 4 + (n % 4 != 0) + 3 * n + 3);
        if (total > PY_SSIZE_T_MAX / 2 - room) {
            PyErr_SetString(PyExc_ValueError, "too many samples for one call");
            goto done;
        }
        total += room;
    }
    views = PyMem_Calloc(n_chunks ? n_chunks : 1, sizeof(Py_buffer));
    tmp = PyMem_RawMalloc((longest ? longest : 1) * sizeof(int16_t));
    payloads = PyBytes_FromStringAndSize(NULL, total ? total : 1);
    segments = PyBytes_FromStringAndSize(NULL, (n_reads ? n_reads : 1) * 2 * sizeof(uint64_t));
    if (views == NULL || tmp == NULL || payloads == NULL || segments == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    for (; n_views < n_chunks; n_views++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, n_views), &views[n_views],
                               PyBUF_C_CONTIGUOUS) < 0)
            goto done;
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(payloads);
    uint64_t *segs = (uint64_t *)PyBytes_AS_STRING(segments);
    Py_ssize_t failed = -1, pos = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n_reads && failed < 0; r++) {
        Py_ssize_t n = 0;
        for (int64_t c = starts[r]; c < starts[r + 1]; c++) {
            const uint8_t *in = (const uint8_t *)views[c].buf;
            Py_ssize_t len = views[c].len, m = (Py_ssize_t)samples[c];
            if (len < (m + 7) / 8 || svb16_length(in, m) != len) {
                failed = r;
                break;
            }
            transcode_chunk(in, len, m, tmp + n);
            n += m;
        }
        if (failed >= 0)
            break;
        Py_ssize_t size = encode_i16(tmp, n, out + pos);
        segs[2 * r] = (uint64_t)pos;
        segs[2 * r + 1] = (uint64_t)size;
        pos += size;
    }
    Py_END_ALLOW_THREADS
    if (failed >= 0) {
        result = Py_BuildValue("OOn", Py_None, Py_None, failed);
        goto done;
    }
    if (_PyBytes_Resize(&payloads, pos ? pos : 1) < 0)
        goto done;
    if (_PyBytes_Resize(&segments, n_reads * 2 * (Py_ssize_t)sizeof(uint64_t)) < 0)
        goto done;
    result = Py_BuildValue("OOn", payloads, segments, (Py_ssize_t)-1);
done:
    for (Py_ssize_t k = 0; k < n_views; k++)
        PyBuffer_Release(&views[k]);
    PyMem_Free(views);
    PyMem_RawFree(tmp);
    Py_XDECREF(payloads);
    Py_XDECREF(segments);
    Py_XDECREF(seq);
    PyBuffer_Release(&samples_buf);
    PyBuffer_Release(&reads_buf);
    return result;
}

/* CRC-32 (zlib's polynomial), slicing by 8 */
static uint32_t CRC_TABLE[8][256];

static void init_crc(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1u ? 0xedb88320u ^ (c >> 1) : c >> 1;
        CRC_TABLE[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            CRC_TABLE[t][i] = (CRC_TABLE[t - 1][i] >> 8) ^ CRC_TABLE[0][CRC_TABLE[t - 1][i] & 0xffu];
}

static uint32_t crc32_of(const uint8_t *p, Py_ssize_t n)
{
    uint32_t c = 0xffffffffu;
    while (n >= 8) {
        uint32_t lo = load4_le(p) ^ c, hi = load4_le(p + 4);
        c = CRC_TABLE[7][lo & 0xff] ^ CRC_TABLE[6][(lo >> 8) & 0xff] ^
            CRC_TABLE[5][(lo >> 16) & 0xff] ^ CRC_TABLE[4][lo >> 24] ^
            CRC_TABLE[3][hi & 0xff] ^ CRC_TABLE[2][(hi >> 8) & 0xff] ^
            CRC_TABLE[1][(hi >> 16) & 0xff] ^ CRC_TABLE[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = CRC_TABLE[0][(c ^ *p++) & 0xffu] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static PyObject *kernels_join_crc(PyObject *self, PyObject *args)
{
    PyObject *frames_obj, *seq, *blob = NULL, *crcs = NULL, *sizes = NULL, *result = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t n_views = 0, total = 0;
    if (!PyArg_ParseTuple(args, "O", &frames_obj))
        return NULL;
    seq = PySequence_Fast(frames_obj, "frames must be a sequence of buffers");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    views = PyMem_Calloc(n ? n : 1, sizeof(Py_buffer));
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; n_views < n; n_views++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, n_views), &views[n_views],
                               PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (total > PY_SSIZE_T_MAX / 2 - views[n_views].len) {
            n_views++;
            PyErr_SetString(PyExc_ValueError, "frames too large");
            goto done;
        }
        total += views[n_views].len;
    }
    blob = PyBytes_FromStringAndSize(NULL, total);
    crcs = PyBytes_FromStringAndSize(NULL, (n ? n : 1) * sizeof(uint32_t));
    sizes = PyBytes_FromStringAndSize(NULL, (n ? n : 1) * sizeof(int64_t));
    if (blob == NULL || crcs == NULL || sizes == NULL)
        goto done;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(blob);
    uint32_t *crc_out = (uint32_t *)PyBytes_AS_STRING(crcs);
    int64_t *size_out = (int64_t *)PyBytes_AS_STRING(sizes);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n; k++) {
        size_out[k] = (int64_t)views[k].len;
        memcpy(out, views[k].buf, views[k].len);
        crc_out[k] = crc32_of(out, views[k].len);
        out += views[k].len;
    }
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&crcs, n * (Py_ssize_t)sizeof(uint32_t)) < 0 ||
        _PyBytes_Resize(&sizes, n * (Py_ssize_t)sizeof(int64_t)) < 0)
        goto done;
    result = PyTuple_Pack(3, blob, crcs, sizes);
done:
    for (Py_ssize_t k = 0; k < n_views; k++)
        PyBuffer_Release(&views[k]);
    PyMem_Free(views);
    Py_XDECREF(blob);
    Py_XDECREF(crcs);
    Py_XDECREF(sizes);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef import_methods[] = {
    {"vbz_to_svb", kernels_vbz_to_svb, METH_VARARGS,
     "vbz_to_svb(chunks, samples, read_chunks) -> (payloads, segments, failed): pod5 svb16 "
     "chunks to SZ I16 payloads."},
    {"join_crc", kernels_join_crc, METH_VARARGS,
     "join_crc(frames) -> (blob, crcs, sizes): frames back to back, their CRC-32s and sizes."},
    {NULL, NULL, 0, NULL},
};

static int add_import_kernels(PyObject *module)
{
    init_crc();
    init_shuffles();
    return PyModule_AddFunctions(module, import_methods);
}
