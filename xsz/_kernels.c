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
 *     Decode `count` values into `out`, a writable C-contiguous buffer of
 *     `count` items of `itemsize` (2 or 4) bytes; narrowing to 16 bits is a
 *     truncation, exact for valid payloads. Raises ValueError unless the payload is exactly as long as the
 *     count and its keys imply, so corrupt input never reads out of bounds.
 *
 * encode(values, itemsize, signed, delta) -> bytes
 *     Encode a C-contiguous buffer of `itemsize` (2 or 4) byte integers (sign-extended when
 *     `signed`), byte-identical to the reference C streamvbyte encoder.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
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

/* One value: decode it from *data, apply zigzag-delta, store it at out[i]. */
#define DECODE_ONE(KEY, ROOM4)                                                   \
    do {                                                                         \
        unsigned nb_ = (KEY) + 1u;                                               \
        uint32_t v_ = load_le(data, nb_, (ROOM4));                               \
        data += nb_;                                                             \
        if (DELTA) {                                                             \
            prev += (v_ >> 1) ^ (0u - (v_ & 1u));                                \
            v_ = prev;                                                           \
        }                                                                        \
        out[i++] = (OUT_T)v_;                                                    \
    } while (0)

/* Loops specialised on the output type and on delta coding. Each returns 0 when
 * the payload holds exactly the values, 1 when it is too short, 2 when longer. */
#define DEFINE_DECODE(NAME, OUT_T_, DELTA_)                                        \
    static int NAME(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n, OUT_T_ *out) \
    {                                                                            \
        typedef OUT_T_ OUT_T;                                                    \
        const int DELTA = (DELTA_);                                              \
        Py_ssize_t nctrl = (n + 3) / 4;                                          \
        if (inlen < nctrl)                                                       \
            return 1;                                                            \
        const uint8_t *ctrl = in, *data = in + nctrl, *end = in + inlen;         \
        uint32_t prev = 0;                                                       \
        Py_ssize_t i = 0, full = n / 4;                                          \
        (void)DELTA;                                                             \
        for (Py_ssize_t c = 0; c < full; c++) {                                  \
            unsigned keys = ctrl[c];                                             \
            /* 4 values take at most 16 bytes: check once, load freely */        \
            if (end - data >= 16 + 3) {                                          \
                DECODE_ONE(keys & 3u, 1);                                        \
                DECODE_ONE((keys >> 2) & 3u, 1);                                 \
                DECODE_ONE((keys >> 4) & 3u, 1);                                 \
                DECODE_ONE(keys >> 6, 1);                                        \
            } else {                                                             \
                for (int k = 0; k < 4; k++) {                                    \
                    unsigned key = (keys >> (2 * k)) & 3u;                       \
                    if (end - data < (Py_ssize_t)key + 1)                        \
                        return 1;                                                \
                    DECODE_ONE(key, end - data >= 4);                            \
                }                                                                \
            }                                                                    \
        }                                                                        \
        for (int k = 0; i < n; k++) {                                            \
            unsigned key = (ctrl[full] >> (2 * k)) & 3u;                         \
            if (end - data < (Py_ssize_t)key + 1)                                \
                return 1;                                                        \
            DECODE_ONE(key, end - data >= 4);                                    \
        }                                                                        \
        return data == end ? 0 : 2;                                              \
    }

DEFINE_DECODE(decode_u16, uint16_t, 0)
DEFINE_DECODE(decode_u32, uint32_t, 0)
DEFINE_DECODE(decode_d16, uint16_t, 1)
DEFINE_DECODE(decode_d32, uint32_t, 1)

static int decode_impl(const uint8_t *in, Py_ssize_t inlen, Py_ssize_t n,
                       void *out, int itemsize, int delta)
{
    if (itemsize == 2)
        return delta ? decode_d16(in, inlen, n, out) : decode_u16(in, inlen, n, out);
    return delta ? decode_d32(in, inlen, n, out) : decode_u32(in, inlen, n, out);
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
    int itemsize, delta;
    if (!PyArg_ParseTuple(args, "y*nw*ip", &in, &count, &out, &itemsize, &delta))
        return NULL;
    PyObject *result = NULL;
    if (count < 0 || (itemsize != 2 && itemsize != 4)) {
        PyErr_SetString(PyExc_ValueError, "count must be >= 0 and itemsize 2 or 4");
    } else if (!PyBuffer_IsContiguous(&out, 'C') || !PyBuffer_IsContiguous(&in, 'C')) {
        PyErr_SetString(PyExc_ValueError, "buffers must be C-contiguous");
    } else if (out.len != count * itemsize) {
        PyErr_Format(PyExc_ValueError, "out holds %zd bytes, %zd values need %zd",
                     out.len, count, count * itemsize);
    } else {
        int status;
        Py_BEGIN_ALLOW_THREADS
        status = decode_impl((const uint8_t *)in.buf, in.len, count, out.buf, itemsize, delta);
        Py_END_ALLOW_THREADS
        if (status == 1)
            PyErr_Format(PyExc_ValueError,
                         "streamvbyte payload of %zd bytes is too short for %zd values",
                         in.len, count);
        else if (status == 2)
            PyErr_Format(PyExc_ValueError,
                         "streamvbyte payload of %zd bytes is longer than %zd values need",
                         in.len, count);
        else {
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
    } else {
        Py_ssize_t n = values.len / itemsize;
        /* worst case, plus 3 bytes of slack for the 4-byte stores */
        result = PyBytes_FromStringAndSize(NULL, (n + 3) / 4 + 4 * n + 3);
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

/* decode_many(payloads, counts, positions, out, itemsize, delta) -> int
 * Decode payloads[i] (counts[i] values) into out[positions[i]:], all with the
 * GIL released once. counts and positions are int64 buffers. Returns -1 when
 * every payload decoded, else the index of the first one that did not (the
 * caller names it); out is then partly written. */
static PyObject *kernels_decode_many(PyObject *self, PyObject *args)
{
    PyObject *seq_arg;
    Py_buffer counts_buf, positions_buf, out;
    int itemsize, delta;
    if (!PyArg_ParseTuple(args, "Oy*y*w*ip", &seq_arg, &counts_buf, &positions_buf, &out,
                          &itemsize, &delta))
        return NULL;
    PyObject *result = NULL;
    PyObject *seq = PySequence_Fast(seq_arg, "payloads must be a sequence");
    Py_buffer *views = NULL;
    Py_ssize_t n = 0, acquired = 0;
    if (seq == NULL)
        goto done;
    n = PySequence_Fast_GET_SIZE(seq);
    if (itemsize != 2 && itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "itemsize must be 2 or 4");
        goto done;
    }
    if (counts_buf.len != n * 8 || positions_buf.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "counts and positions need one int64 per payload");
        goto done;
    }
    const int64_t *counts = (const int64_t *)counts_buf.buf;
    const int64_t *positions = (const int64_t *)positions_buf.buf;
    Py_ssize_t capacity = out.len / itemsize;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (counts[i] < 0 || positions[i] < 0 || positions[i] + counts[i] > capacity) {
            PyErr_Format(PyExc_ValueError, "payload %zd does not fit out", i);
            goto done;
        }
    }
    views = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_buffer));
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; acquired < n; acquired++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, acquired), &views[acquired],
                               PyBUF_SIMPLE) < 0)
            goto done;
    }
    Py_ssize_t failed = -1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        char *target = (char *)out.buf + positions[i] * itemsize;
        if (decode_impl((const uint8_t *)views[i].buf, views[i].len, counts[i], target,
                        itemsize, delta) != 0) {
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
    Py_XDECREF(seq);
    PyBuffer_Release(&counts_buf);
    PyBuffer_Release(&positions_buf);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef kernels_methods[] = {
    {"decode_many", kernels_decode_many, METH_VARARGS,
     "decode_many(payloads, counts, positions, out, itemsize, delta) -> int: many payloads "
     "into out at once; -1, or the index of the first that failed."},
    {"decode", kernels_decode, METH_VARARGS,
     "decode(payload, count, out, itemsize, delta) -> None: streamvbyte (+zigzag-delta) into out."},
    {"encode", kernels_encode, METH_VARARGS,
     "encode(values, itemsize, signed, delta) -> bytes: streamvbyte (+zigzag-delta) of values."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "Fused streamvbyte kernels for svb-zstd payloads (GIL released).", -1, kernels_methods,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    return PyModule_Create(&kernels_module);
}
