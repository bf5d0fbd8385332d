/* engine._frames: the frame path's per-pixel loop after the model, in one pass (optional).
 *
 * A picture becomes the model's float32 1x3xHxW input, with the small grey picture the smoothing compares
 * (block means) made from it on the way. The model's float32 1x3xHxW output becomes three uint8 planes, blended on the way with the previous
 * picture's planes by the smoothing's per-pixel weight, which is enlarged from the small motion map
 * row by row as OpenCV's bilinear resize places it. OpenCV needed a dozen calls and full-size weight
 * maps for the same (engine.stabilizer); each call costs its cache and page misses again in the
 * running show. Plain loops over contiguous rows, which the compiler vectorises (AVX2 where the CPU
 * has it, chosen when the module loads). engine.convert uses it when it was built and falls back to
 * OpenCV when it was not; both give the same picture within one grey level.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* One output row of one colour: out = round(src * 255 * (1 - k) + prev * k), clamped to 0..255. */
VECTOR_CLONES
static void blend_row(const float *src, const uint8_t *prev, const float *k, uint8_t *out, int w) {
    for (int x = 0; x < w; x++) {
        float v = src[x] * 255.0f * (1.0f - k[x]) + (float)prev[x] * k[x] + 0.5f;
        v = v < 0.0f ? 0.0f : v;
        v = v > 255.0f ? 255.0f : v;
        out[x] = (uint8_t)(int)v;
    }
}

/* One output row of one colour without a previous picture: out = round(src * 255), clamped. */
VECTOR_CLONES
static void convert_row(const float *src, uint8_t *out, int w) {
    for (int x = 0; x < w; x++) {
        float v = src[x] * 255.0f + 0.5f;
        v = v < 0.0f ? 0.0f : v;
        v = v > 255.0f ? 255.0f : v;
        out[x] = (uint8_t)(int)v;
    }
}

/* out = a0 + a * (a1 - a0), elementwise. */
VECTOR_CLONES
static void lerp_row(const float *a0, const float *a1, float a, float *out, int w) {
    for (int x = 0; x < w; x++) out[x] = a0[x] + a * (a1[x] - a0[x]);
}

/* Where output column or row i of n samples the input of m (cv2.resize INTER_LINEAR): index and weight. */
static void bilinear_at(int i, int n, int m, int *index, float *frac) {
    float f = ((float)i + 0.5f) * (float)m / (float)n - 0.5f;
    int j = (int)floorf(f);
    float a = f - (float)j;
    if (j < 0) {
        j = 0;
        a = 0.0f;
    }
    if (j >= m - 1) {
        j = m - 1;
        a = 0.0f;
    }
    *index = j;
    *frac = a;
}

static int get(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t need, const char *what) {
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len < need) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, need %zd", what, view->len, need);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(to_planes_doc,
             "to_planes(src, out, height, width, prev=None, keep=None, keep_height=0, keep_width=0)\n\n"
             "src: float32 3 x height x width in [0, 1]; out: uint8 3 x height x width, written. With prev\n"
             "(uint8 3 x height x width) and keep (float32 keep_height x keep_width, the previous picture's\n"
             "weight), out = src * (1 - k) + prev * k with k the bilinearly enlarged keep.");

static PyObject *to_planes(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *src_o, *out_o, *prev_o = Py_None, *keep_o = Py_None;
    int h, w, mh = 0, mw = 0;
    if (!PyArg_ParseTuple(args, "OOii|OOii", &src_o, &out_o, &h, &w, &prev_o, &keep_o, &mh, &mw)) return NULL;
    if (h <= 0 || w <= 0) return PyErr_Format(PyExc_ValueError, "size must be positive, got %dx%d", w, h);
    int blend = prev_o != Py_None;
    if (blend && (keep_o == Py_None || mh <= 0 || mw <= 0))
        return PyErr_Format(PyExc_ValueError, "a previous picture needs its weights (keep) and their size");
    Py_ssize_t plane = (Py_ssize_t)h * w;
    Py_buffer src, out, prev, keep;
    if (get(src_o, &src, 0, plane * 3 * (Py_ssize_t)sizeof(float), "src") < 0) return NULL;
    if (get(out_o, &out, 1, plane * 3, "out") < 0) goto fail_src;
    if (blend) {
        if (get(prev_o, &prev, 0, plane * 3, "prev") < 0) goto fail_out;
        if (get(keep_o, &keep, 0, (Py_ssize_t)mh * mw * (Py_ssize_t)sizeof(float), "keep") < 0) goto fail_prev;
    }
    /* the weight grid enlarged across (all its rows, once), then each output row a blend of two of those */
    float *wide = NULL, *kx = NULL;
    if (blend) {
        wide = PyMem_Malloc(sizeof(float) * (size_t)mh * (size_t)w);
        kx = PyMem_Malloc(sizeof(float) * (size_t)w);
        if (!wide || !kx) {
            PyErr_NoMemory();
            goto fail_all;
        }
        const float *grid = keep.buf;
        for (int x = 0; x < w; x++) {
            int i;
            float f;
            bilinear_at(x, w, mw, &i, &f);
            int j = i < mw - 1 ? i + 1 : i;
            for (int r = 0; r < mh; r++) {
                const float *row = grid + (Py_ssize_t)r * mw;
                wide[(Py_ssize_t)r * w + x] = row[i] + f * (row[j] - row[i]);
            }
        }
    }
    const float *s = src.buf;
    uint8_t *o = out.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (int y = 0; y < h; y++) {
        Py_ssize_t at = (Py_ssize_t)y * w;
        if (!blend) {
            for (int c = 0; c < 3; c++) convert_row(s + c * plane + at, o + c * plane + at, w);
            continue;
        }
        int iy;
        float a;
        bilinear_at(y, h, mh, &iy, &a);
        const float *k0 = wide + (Py_ssize_t)iy * w;
        lerp_row(k0, k0 + (iy < mh - 1 ? w : 0), a, kx, w);
        const uint8_t *p = prev.buf;
        for (int c = 0; c < 3; c++) blend_row(s + c * plane + at, p + c * plane + at, kx, o + c * plane + at, w);
    }
    Py_END_ALLOW_THREADS;
    if (blend) {
        PyMem_Free(wide);
        PyMem_Free(kx);
        PyBuffer_Release(&keep);
        PyBuffer_Release(&prev);
    }
    PyBuffer_Release(&out);
    PyBuffer_Release(&src);
    Py_RETURN_NONE;

fail_all:
    PyMem_Free(wide);
    PyMem_Free(kx);
    PyBuffer_Release(&keep);
fail_prev:
    if (blend) PyBuffer_Release(&prev);
fail_out:
    PyBuffer_Release(&out);
fail_src:
    PyBuffer_Release(&src);
    return NULL;
}

/* One input row: its three colours scaled to [0, 1] into the planes' rows. */
VECTOR_CLONES
static void split_row(const uint8_t *src, float *r, float *g, float *b, int w) {
    const float k = 1.0f / 255.0f;
    for (int x = 0; x < w; x++) {
        r[x] = (float)src[3 * x] * k;
        g[x] = (float)src[3 * x + 1] * k;
        b[x] = (float)src[3 * x + 2] * k;
    }
}

VECTOR_CLONES
static void luma_row(const float *r, const float *g, const float *b, float *luma, int w) {
    for (int x = 0; x < w; x++) luma[x] = 0.299f * r[x] + 0.587f * g[x] + 0.114f * b[x];
}

PyDoc_STRVAR(to_tensor_doc,
             "to_tensor(src, out, height, width, grey=None, block=8)\n\n"
             "src: uint8 height x width x 3; out: float32 3 x height x width, written as src / 255. With grey\n"
             "(float32 (height // block) x (width // block)): written with the mean luma (0.299 R + 0.587 G +\n"
             "0.114 B, 0..255) of each whole block of block x block pixels.");

static PyObject *to_tensor(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *src_o, *out_o, *grey_o = Py_None;
    int h, w, block = 8;
    if (!PyArg_ParseTuple(args, "OOii|Oi", &src_o, &out_o, &h, &w, &grey_o, &block)) return NULL;
    if (h <= 0 || w <= 0 || block <= 0)
        return PyErr_Format(PyExc_ValueError, "size and block must be positive, got %dx%d, %d", w, h, block);
    int gw = w / block, gh = h / block, with_grey = grey_o != Py_None;
    if (with_grey && (gw == 0 || gh == 0))
        return PyErr_Format(PyExc_ValueError, "a %dx%d picture has no whole %d-pixel block", w, h, block);
    Py_ssize_t plane = (Py_ssize_t)h * w;
    Py_buffer src, out, grey;
    if (get(src_o, &src, 0, plane * 3, "src") < 0) return NULL;
    if (get(out_o, &out, 1, plane * 3 * (Py_ssize_t)sizeof(float), "out") < 0) {
        PyBuffer_Release(&src);
        return NULL;
    }
    if (with_grey && get(grey_o, &grey, 1, (Py_ssize_t)gh * gw * (Py_ssize_t)sizeof(float), "grey") < 0) {
        PyBuffer_Release(&out);
        PyBuffer_Release(&src);
        return NULL;
    }
    const uint8_t *s = src.buf;
    float *o = out.buf, *luma = NULL;
    if (with_grey && !(luma = PyMem_Malloc(sizeof(float) * (size_t)w))) {
        PyBuffer_Release(&grey);
        PyBuffer_Release(&out);
        PyBuffer_Release(&src);
        return PyErr_NoMemory();
    }
    float *gs = with_grey ? grey.buf : NULL;
    const float scale = 255.0f / (float)(block * block);
    Py_BEGIN_ALLOW_THREADS;
    for (int y = 0; y < h; y++) {
        Py_ssize_t at = (Py_ssize_t)y * w;
        float *r = o + at, *g = r + plane, *b = g + plane;
        split_row(s + at * 3, r, g, b, w);
        int by = y / block;
        if (!with_grey || by >= gh) continue;
        /* the row's luma from the planes just written (in cache), summed into its blocks */
        luma_row(r, g, b, luma, w);
        float *row = gs + (Py_ssize_t)by * gw;
        if (y % block == 0)
            for (int bx = 0; bx < gw; bx++) row[bx] = 0.0f;
        for (int bx = 0; bx < gw; bx++) {
            float sum = 0.0f;
            for (int i = 0; i < block; i++) sum += luma[bx * block + i];
            row[bx] += sum;
        }
        if (y % block == block - 1)
            for (int bx = 0; bx < gw; bx++) row[bx] *= scale;
    }
    Py_END_ALLOW_THREADS;
    PyMem_Free(luma);
    if (with_grey) PyBuffer_Release(&grey);
    PyBuffer_Release(&out);
    PyBuffer_Release(&src);
    Py_RETURN_NONE;
}

/* reflect-101 index, as OpenCV's default border: -1 -> 1, n -> n - 2 */
static int reflect101(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

PyDoc_STRVAR(motion_weights_doc,
             "motion_weights(grey, prev_grey, keep, height, width, amount, threshold) -> float\n\n"
             "grey, prev_grey: float32 height x width (the small grey pictures of two inputs); keep: float32\n"
             "height x width, written with amount * max(0, 1 - m / threshold), m the absolute difference blurred\n"
             "by OpenCV's 5x5 Gaussian (reflect-101 border). Returns the largest weight.");

static PyObject *motion_weights(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *grey_o, *prev_o, *keep_o;
    int h, w;
    float amount, threshold;
    if (!PyArg_ParseTuple(args, "OOOiiff", &grey_o, &prev_o, &keep_o, &h, &w, &amount, &threshold)) return NULL;
    if (h <= 0 || w <= 0 || !(threshold > 0.0f))
        return PyErr_Format(PyExc_ValueError, "size and threshold must be positive, got %dx%d, %f", w, h, threshold);
    Py_ssize_t need = (Py_ssize_t)h * w * (Py_ssize_t)sizeof(float);
    Py_buffer grey, prev, keep;
    if (get(grey_o, &grey, 0, need, "grey") < 0) return NULL;
    if (get(prev_o, &prev, 0, need, "prev_grey") < 0) {
        PyBuffer_Release(&grey);
        return NULL;
    }
    if (get(keep_o, &keep, 1, need, "keep") < 0) {
        PyBuffer_Release(&prev);
        PyBuffer_Release(&grey);
        return NULL;
    }
    /* |a - b| with a 2-pixel reflect-101 margin on every side, blurred across then down (5 taps each) */
    int pw = w + 4, ph = h + 4;
    float *pad = PyMem_Malloc(sizeof(float) * (size_t)pw * (size_t)ph);
    float *across = PyMem_Malloc(sizeof(float) * (size_t)w * (size_t)ph);
    if (!pad || !across) {
        PyMem_Free(pad);
        PyMem_Free(across);
        PyBuffer_Release(&keep);
        PyBuffer_Release(&prev);
        PyBuffer_Release(&grey);
        return PyErr_NoMemory();
    }
    const float *a = grey.buf, *b = prev.buf;
    float *k = keep.buf, top = 0.0f;
    const float t0 = 1.0f / 16, t1 = 4.0f / 16, t2 = 6.0f / 16, slope = amount / threshold;
    Py_BEGIN_ALLOW_THREADS;
    for (int y = 0; y < ph; y++) {
        int sy = reflect101(y - 2, h);
        float *row = pad + (Py_ssize_t)y * pw;
        const float *ra = a + (Py_ssize_t)sy * w, *rb = b + (Py_ssize_t)sy * w;
        for (int x = 0; x < pw; x++) {
            int sx = reflect101(x - 2, w);
            row[x] = fabsf(ra[sx] - rb[sx]);
        }
        float *out = across + (Py_ssize_t)y * w;
        for (int x = 0; x < w; x++)
            out[x] = t0 * (row[x] + row[x + 4]) + t1 * (row[x + 1] + row[x + 3]) + t2 * row[x + 2];
    }
    for (int y = 0; y < h; y++) {
        const float *r0 = across + (Py_ssize_t)y * w, *r1 = r0 + w, *r2 = r1 + w, *r3 = r2 + w, *r4 = r3 + w;
        float *out = k + (Py_ssize_t)y * w;
        for (int x = 0; x < w; x++) {
            float m = t0 * (r0[x] + r4[x]) + t1 * (r1[x] + r3[x]) + t2 * r2[x];
            float v = amount - m * slope;
            out[x] = v > 0.0f ? v : 0.0f;
        }
        for (int x = 0; x < w; x++) top = out[x] > top ? out[x] : top;
    }
    Py_END_ALLOW_THREADS;
    PyMem_Free(pad);
    PyMem_Free(across);
    PyBuffer_Release(&keep);
    PyBuffer_Release(&prev);
    PyBuffer_Release(&grey);
    return PyFloat_FromDouble((double)top);
}

static PyMethodDef methods[] = {
    {"motion_weights", motion_weights, METH_VARARGS, motion_weights_doc},
    {"to_tensor", to_tensor, METH_VARARGS, to_tensor_doc},
    {"to_planes", to_planes, METH_VARARGS, to_planes_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_frames", "The frame path's fused per-pixel loops (see engine.convert).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__frames(void) { return PyModule_Create(&module); }
