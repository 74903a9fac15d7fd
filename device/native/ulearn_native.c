/*
 * MicroPython binding of the ulearn C kernels: module `ulearn_native`.
 *
 * One file, two builds: a dynamic native module (.mpy; Makefile here, MICROPY_ENABLE_DYNRUNTIME)
 * and a firmware user C module (micropython.mk / micropython.cmake). Each entry point unpacks its
 * arguments, gets the buffers, checks typecode / length / alignment (ValueError naming the argument),
 * calls the pure-C kernel and turns its status into a ValueError. Signatures are those of
 * lib/ulearn/backend.py (docs/architecture.md "Backend API"): the layer kernels conv_s8, gemm_s8 and
 * pool_s8 read their integer arguments from a layer program (int16 or int32 words g[p:]) and take
 * whole buffers, so a model needs no memoryview per layer. softmax_s8 (added without an ABI change:
 * the runtime looks for it once) takes the arguments of lib/ulearn/nn/_softmax.py softmax.
 */
#if MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#endif
#include "ulearn_kernel.h"

/* The Python-visible ABI of this module (ulearn/_bk_native.py checks it): 2 = layer programs
   (conv_s8 / gemm_s8 / pool_s8 take whole buffers and a program g with an offset p). */
#define ULEARN_NATIVE_ABI 2

/* ---- error messages built on the stack ("<arg>: <what>"), raised as ValueError ---- */

static size_t put(char *buf, size_t at, size_t cap, const char *s) {
    while (*s && at + 1 < cap) {
        buf[at++] = *s++;
    }
    buf[at] = 0;
    return at;
}

static size_t put_int(char *buf, size_t at, size_t cap, mp_int_t v) {
    char tmp[24];
    size_t n = 0;
    mp_uint_t u = v < 0 ? (mp_uint_t)0 - (mp_uint_t)v : (mp_uint_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && n < sizeof(tmp));
    if (v < 0 && at + 1 < cap) {
        buf[at++] = '-';
    }
    while (n && at + 1 < cap) {
        buf[at++] = tmp[--n];
    }
    buf[at] = 0;
    return at;
}

static MP_NORETURN void raise_arg3(const char *name, const char *what, mp_int_t v, int with_value,
                                    const char *tail) {
    char msg[160];
    size_t at = put(msg, 0, sizeof(msg), name);
    at = put(msg, at, sizeof(msg), ": ");
    at = put(msg, at, sizeof(msg), what);
    if (with_value) {
        at = put_int(msg, at, sizeof(msg), v);
    }
    at = put(msg, at, sizeof(msg), tail);
    mp_raise_type_arg(&mp_type_ValueError, mp_obj_new_str(msg, at));
}

static MP_NORETURN void raise_arg(const char *name, const char *what, mp_int_t v, int with_value) {
    raise_arg3(name, what, v, with_value, "");
}

/* ---- argument access ---- */

static int32_t get_i32(mp_obj_t o, const char *name) {
    mp_int_t v = mp_obj_get_int(o);
    if (v < INT32_MIN || v > INT32_MAX) {
        raise_arg(name, "outside the int32 range: ", v, 1);
    }
    return (int32_t)v;
}

static int32_t get_dim(mp_obj_t o, const char *name) {
    int32_t v = get_i32(o, name);
    if (v < 0) {
        raise_arg(name, "must be >= 0, got ", v, 1);
    }
    return v;
}

/* Buffer of typecode `tc` ('b', 'h', 'i') with at least `need` elements; NULL for None if allowed. */
static void *get_buf(mp_obj_t o, char tc, mp_int_t need, int writable, int optional, const char *name) {
    if (optional && o == mp_const_none) {
        return NULL;
    }
    mp_buffer_info_t bi;
    if (!mp_get_buffer(o, &bi, writable ? MP_BUFFER_WRITE : MP_BUFFER_READ)) {
        raise_arg(name, writable ? "needs a writable array('b'/'h'/'i') buffer" : "needs an array buffer", 0, 0);
    }
    if (bi.typecode != tc) {
        const char *want = tc == 'b' ? "typecode must be 'b' (int8)" :
                           tc == 'h' ? "typecode must be 'h' (int16)" : "typecode must be 'i' (int32)";
        raise_arg(name, want, 0, 0);
    }
    size_t size = tc == 'b' ? 1 : (tc == 'h' ? 2 : 4);
    if (((uintptr_t)bi.buf & (size - 1)) != 0) {
        raise_arg(name, "buffer is not aligned to its element size", 0, 0);
    }
    if ((mp_int_t)(bi.len / size) < need) {
        raise_arg3(name, "too short: needs at least ", need, 1, " elements");
    }
    return bi.buf;
}

static mp_int_t product(mp_int_t a, mp_int_t b, const char *name) {
    if (a && b > INT32_MAX / a) {
        raise_arg(name, "shape too large", 0, 0);
    }
    return a * b;
}

/* Status from the kernel -> ValueError naming the argument (per-channel index found here). */
static void check_status(int st, const int32_t *mult, const int8_t *shift, int32_t n) {
    switch (st) {
        case UL_OK:
            return;
        case UL_E_SHIFT:
            if (shift) {
                for (int32_t j = 0; j < n; j++) {
                    if (shift[j] < -31 || shift[j] > 30) {
                        raise_arg("shift", "outside [-31, 30] at index ", j, 1);
                    }
                }
            }
            raise_arg("shift", "outside [0, 31]", 0, 0);
        case UL_E_MULT:
            for (int32_t j = 0; j < n; j++) {
                if (mult[j] < 0) {
                    raise_arg("mult", "negative (Q31 multipliers are in [0, 2^31)) at index ", j, 1);
                }
            }
            raise_arg("mult", "negative", 0, 0);
        case UL_E_DIM:
            raise_arg("shape", "a dimension is negative or a kernel/stride/dilation is < 1", 0, 0);
        case UL_E_AOFF:
            raise_arg("a_off/in_off", "outside its range ([-255, 255]; in_off [-127, 128])", 0, 0);
        case UL_E_BOFF:
            raise_arg("b_off", "outside [-255, 255]", 0, 0);
        case UL_E_OUTOFF:
            raise_arg("out_off", "outside [-128, 127] (the output zero point)", 0, 0);
        case UL_E_ACT:
            raise_arg("act_min/act_max", "need -128 <= act_min <= act_max <= 127", 0, 0);
        case UL_E_SCRATCH:
            raise_arg("col", "scratch smaller than one im2col row (see conv_col_size)", 0, 0);
        case UL_E_PAD:
            raise_arg("pad_value", "outside [-128, 127]", 0, 0);
        case UL_E_PREP:
            raise_arg("prep", "not prepared by gemm_prepare for this n and k (or too short)", 0, 0);
        default:
            raise_arg("arguments", "rejected by the kernel, status ", st, 1);
    }
}

/* ---- entry points ---- */

/* ---- layer programs: words g[p:] of an array('h') or array('i') (layouts: lib/ulearn/backend.py) ---- */

/* Whole buffer of typecode `tc`; its length in elements in *len. */
static void *get_whole(mp_obj_t o, char tc, int writable, size_t *len, const char *name) {
    void *buf = get_buf(o, tc, 0, writable, 0, name);
    mp_buffer_info_t bi;
    mp_get_buffer_raise(o, &bi, writable ? MP_BUFFER_WRITE : MP_BUFFER_READ);
    *len = bi.len / (tc == 'b' ? 1 : (tc == 'h' ? 2 : 4));
    return buf;
}

/* The weights buffer w: int8 ('b'), or unsigned bytes ('B': a blob's bytes used in place, read as int8). */
static const int8_t *get_weights(mp_obj_t o, size_t *len) {
    mp_buffer_info_t bi;
    if (!mp_get_buffer(o, &bi, MP_BUFFER_READ) || (bi.typecode != 'b' && bi.typecode != 'B')) {
        raise_arg("w", "typecode must be 'b' (int8) or bytes", 0, 0);
    }
    *len = bi.len;
    return (const int8_t *)bi.buf;
}

/* The `words` program words g[p:] (g an array('h') or array('i'), checked to hold them) into `out`. */
static void get_prog(mp_obj_t g_obj, mp_obj_t p_obj, int32_t words, int32_t *out) {
    mp_buffer_info_t bi;
    if (!mp_get_buffer(g_obj, &bi, MP_BUFFER_READ) || (bi.typecode != 'h' && bi.typecode != 'i')) {
        raise_arg("g", "the layer program must be an array('h') or array('i')", 0, 0);
    }
    size_t size = bi.typecode == 'h' ? 2 : 4;
    if (((uintptr_t)bi.buf & (size - 1)) != 0) {
        raise_arg("g", "buffer is not aligned to its element size", 0, 0);
    }
    int32_t p = get_dim(p_obj, "p");
    if ((int64_t)p + words > (int64_t)(bi.len / size)) {
        raise_arg3("g (program)", "too short: the program needs words up to ", (mp_int_t)p + words, 1, "");
    }
    for (int32_t i = 0; i < words; i++) {
        out[i] = size == 2 ? ((const int16_t *)bi.buf)[p + i] : ((const int32_t *)bi.buf)[p + i];
    }
}

/* buf[off .. off + count) must lie inside a buffer of `len` elements */
static void need_region(size_t len, int32_t off, int64_t count, const char *name) {
    if (off < 0) {
        raise_arg(name, "offset is negative: ", off, 1);
    }
    if (count < 0 || (int64_t)off + count > (int64_t)len) {
        raise_arg3(name, "too short for the program: needs ", (mp_int_t)((int64_t)off + count), 1, " elements");
    }
}

/* the per-channel shifts (w[shift0..]), multipliers (q[mult0..]) and bias (q[bias0..], -1: none) of n channels */
static void need_channels(size_t w_len, size_t q_len, int32_t bias0, int32_t mult0, int32_t shift0, int32_t n) {
    need_region(w_len, shift0, n, "w (shifts)");
    need_region(q_len, mult0, n, "q (mult)");
    if (bias0 != -1) {
        need_region(q_len, bias0, n, "q (bias)");
    }
}

static void need_dims(const int32_t *w, int first, int last) {
    for (int i = first; i <= last; i++) {
        if (w[i] < 0) {
            raise_arg("program", "a size word is negative at word ", i, 1);
        }
    }
}

/* gemm_s8(x, act, w, q, g, p): program words g[p:]: a at x[A0], out at act[OUT0], b at w[B0], shifts at w[SHIFT0], bias at q[BIAS0]
   (-1: none), multipliers at q[MULT0]; then m, n, k, a_off, b_off, out_off, act_min, act_max */
static mp_obj_t ul_py_gemm_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t x_len, act_len, w_len, q_len;
    const int8_t *x = get_whole(args[0], 'b', 0, &x_len, "x");
    int8_t *act = get_whole(args[1], 'b', 1, &act_len, "act");
    const int8_t *w = get_weights(args[2], &w_len);
    const int32_t *q = get_whole(args[3], 'i', 0, &q_len, "q");
    int32_t g[14];
    get_prog(args[4], args[5], 14, g);
    need_dims(g, 6, 8);
    int32_t m = g[6], n = g[7], k = g[8];
    need_region(x_len, g[0], (int64_t)m * k, "x (a)");
    need_region(act_len, g[1], (int64_t)m * n, "act (out)");
    need_region(w_len, g[2], (int64_t)n * k, "w (b)");
    need_channels(w_len, q_len, g[3], g[4], g[5], n);
    const int32_t *mult = q + g[4];
    const int8_t *shift = w + g[5];
    int st = ul_gemm_s8(x + g[0], w + g[2], g[3] == -1 ? NULL : q + g[3], mult, shift, act + g[1], m, n, k,
                        g[9], g[10], g[11], g[12], g[13]);
    check_status(st, mult, shift, n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_gemm_s8_obj, 6, 6, ul_py_gemm_s8);

/* conv_s8(x, act, w, q, g, p): program words g[p:]: x at x[X0], out at act[OUT0], scratch act[COL0 .. COL0 + COL_N], weights at
   w[W0], bias at q[BIAS0] (-1: none), multipliers at q[MULT0], shifts at w[SHIFT0]; then in_h, in_w, in_c,
   out_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, out_h, out_w, in_off, out_off,
   act_min, act_max */
static mp_obj_t ul_py_conv_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t x_len, act_len, w_len, q_len;
    const int8_t *x = get_whole(args[0], 'b', 0, &x_len, "x");
    int8_t *act = get_whole(args[1], 'b', 1, &act_len, "act");
    const int8_t *w = get_weights(args[2], &w_len);
    const int32_t *q = get_whole(args[3], 'i', 0, &q_len, "q");
    int32_t c[26];
    get_prog(args[4], args[5], 26, c);
    need_dims(c, 8, 21);
    int32_t in_c = c[10], out_c = c[11];
    int64_t row = (int64_t)c[12] * c[13] * in_c;
    int64_t rows = (int64_t)c[20] * c[21];
    if (row > INT32_MAX || rows > INT32_MAX) {
        raise_arg("shape", "too large", 0, 0);
    }
    need_region(x_len, c[0], (int64_t)c[8] * c[9] * in_c, "x");
    need_region(act_len, c[1], rows * out_c, "act (out)");
    need_region(act_len, c[2], c[3], "act (col)");
    need_region(w_len, c[4], row * out_c, "w");
    need_channels(w_len, q_len, c[5], c[6], c[7], out_c);
    const int32_t *mult = q + c[6];
    const int8_t *shift = w + c[7];
    int st = ul_conv_s8(x + c[0], w + c[4], c[5] == -1 ? NULL : q + c[5], mult, shift, act + c[1], act + c[2],
                        (size_t)c[3], c[8], c[9], in_c, out_c, c[12], c[13], c[14], c[15], c[16], c[17], c[18],
                        c[19], c[20], c[21], c[22], c[23], c[24], c[25]);
    check_status(st, mult, shift, out_c);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_conv_s8_obj, 6, 6, ul_py_conv_s8);

/* pool_s8(x, act, g, p): program words g[p:]: x0, out0, then the 14-int pooling block of ul_pool_s8 */
static mp_obj_t ul_py_pool_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t x_len, act_len;
    const int8_t *x = get_whole(args[0], 'b', 0, &x_len, "x");
    int8_t *act = get_whole(args[1], 'b', 1, &act_len, "act");
    int32_t g[2 + UL_POOL_PARAMS];
    get_prog(args[2], args[3], 2 + UL_POOL_PARAMS, g);
    int32_t in_bytes = 0, out_bytes = 0;
    int st = ul_pool_sizes(g + 2, &in_bytes, &out_bytes);
    if (st == UL_OK) {
        need_region(x_len, g[0], in_bytes, "x");
        need_region(act_len, g[1], out_bytes, "act (out)");
        st = ul_pool_s8(x + g[0], act + g[1], g + 2);
    }
    if (st == UL_E_WINDOW) {
        raise_arg("pooling", "a window holds no input tap (padding or output size too large)", 0, 0);
    }
    check_status(st, NULL, NULL, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_pool_s8_obj, 4, 4, ul_py_pool_s8);

/* softmax_s8(x, act, q, g, p): program words g[p:]: x0, out0, n, mult0 (the input multiplier is
   q[mult0]), left_shift, diff_min (= lib/ulearn/nn/_softmax.py softmax); x[x0 .. x0+n) -> act[out0 ..) */
static mp_obj_t ul_py_softmax_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t x_len, act_len, q_len;
    const int8_t *x = get_whole(args[0], 'b', 0, &x_len, "x");
    int8_t *act = get_whole(args[1], 'b', 1, &act_len, "act");
    const int32_t *q = get_whole(args[2], 'i', 0, &q_len, "q");
    int32_t g[6];
    get_prog(args[3], args[4], 6, g);
    int32_t n = g[2];
    if (n < 0 || n > UL_SOFTMAX_MAX) {
        raise_arg3("n (softmax length)", "must be in [0, 4095], got ", n, 1, "");
    }
    need_region(x_len, g[0], n, "x");
    need_region(act_len, g[1], n, "act (out)");
    need_region(q_len, g[3], 1, "q (mult)");
    if (args[0] == args[1] && g[0] != g[1] && g[0] < g[1] + n && g[1] < g[0] + n) {
        raise_arg("act (out)", "overlaps the input x: in place needs out0 == x0", 0, 0);
    }
    int32_t mult = q[g[3]];
    int st = ul_softmax_s8(x + g[0], act + g[1], n, mult, g[4], g[5]);
    switch (st) {
        case UL_OK:
            return mp_const_none;
        case UL_E_MULT:
            raise_arg("q (mult)", "negative input multiplier ", mult, 1);
        case UL_E_SHIFT:
            raise_arg("left_shift", "outside [0, 30]: ", g[4], 1);
        case UL_E_DIFFMIN:
            raise_arg("diff_min", "must be <= 0, got ", g[5], 1);
        default:
            check_status(st, NULL, NULL, 0);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_softmax_s8_obj, 5, 5, ul_py_softmax_s8);

/* gemm_s32(a, b, bias, out, m, n, k, a_off, b_off) */
static mp_obj_t ul_py_gemm_s32(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    int32_t m = get_dim(args[4], "m"), n = get_dim(args[5], "n"), k = get_dim(args[6], "k");
    const int8_t *a = get_buf(args[0], 'b', product(m, k, "a"), 0, 0, "a");
    const int8_t *b = get_buf(args[1], 'b', product(n, k, "b"), 0, 0, "b");
    const int32_t *bias = get_buf(args[2], 'i', n, 0, 1, "bias");
    int32_t *out = get_buf(args[3], 'i', product(m, n, "out"), 1, 0, "out");
    int st = ul_gemm_s32(a, b, bias, out, m, n, k, get_i32(args[7], "a_off"), get_i32(args[8], "b_off"));
    check_status(st, NULL, NULL, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_gemm_s32_obj, 9, 9, ul_py_gemm_s32);

/* gemm_prep_size(n, k) -> bytes of a prepared-weights buffer (use array('i', bytes // 4)) */
static mp_obj_t ul_py_gemm_prep_size(mp_obj_t n_obj, mp_obj_t k_obj) {
    size_t bytes = ul_gemm_prep_size(get_dim(n_obj, "n"), get_dim(k_obj, "k"));
    if (!bytes) {
        raise_arg("shape", "too large for prepared weights", 0, 0);
    }
    return mp_obj_new_int_from_uint(bytes);
}
static MP_DEFINE_CONST_FUN_OBJ_2(ul_gemm_prep_size_obj, ul_py_gemm_prep_size);

/* gemm_prepare(b, bias, n, k, b_off, prep): weights (n x k int8) + b_off and bias (int32 or None)
   arranged once into prep (array('i') of gemm_prep_size(n, k) // 4 elements) for gemm_s8_prep */
static mp_obj_t ul_py_gemm_prepare(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    int32_t n = get_dim(args[2], "n"), k = get_dim(args[3], "k");
    size_t bytes = ul_gemm_prep_size(n, k);
    if (!bytes) {
        raise_arg("shape", "too large for prepared weights", 0, 0);
    }
    const int8_t *b = get_buf(args[0], 'b', product(n, k, "b"), 0, 0, "b");
    const int32_t *bias = get_buf(args[1], 'i', n, 0, 1, "bias");
    int32_t *prep = get_buf(args[5], 'i', (mp_int_t)(bytes / 4), 1, 0, "prep");
    int st = ul_gemm_prepare(b, bias, n, k, get_i32(args[4], "b_off"), prep, bytes);
    check_status(st, NULL, NULL, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_gemm_prepare_obj, 6, 6, ul_py_gemm_prepare);

/* gemm_s8_prep(a, prep, mult, shift, out, m, n, k, a_off, out_off, act_min, act_max): gemm_s8 with the
   weights, b_off and bias given to gemm_prepare */
static mp_obj_t ul_py_gemm_s8_prep(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    int32_t m = get_dim(args[5], "m"), n = get_dim(args[6], "n"), k = get_dim(args[7], "k");
    size_t bytes = ul_gemm_prep_size(n, k);
    if (!bytes) {
        raise_arg("shape", "too large for prepared weights", 0, 0);
    }
    const int8_t *a = get_buf(args[0], 'b', product(m, k, "a"), 0, 0, "a");
    const int32_t *prep = get_buf(args[1], 'i', (mp_int_t)(bytes / 4), 0, 0, "prep");
    const int32_t *mult = get_buf(args[2], 'i', n, 0, 0, "mult");
    const int8_t *shift = get_buf(args[3], 'b', n, 0, 0, "shift");
    int8_t *out = get_buf(args[4], 'b', product(m, n, "out"), 1, 0, "out");
    int st = ul_gemm_s8_prep(a, prep, mult, shift, out, m, n, k, get_i32(args[8], "a_off"),
                             get_i32(args[9], "out_off"), get_i32(args[10], "act_min"), get_i32(args[11], "act_max"));
    check_status(st, mult, shift, n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_gemm_s8_prep_obj, 12, 12, ul_py_gemm_s8_prep);

/* im2col_s8(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
             out_h, out_w, pad_value) */
static mp_obj_t ul_py_im2col_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    int32_t in_h = get_dim(args[2], "in_h"), in_w = get_dim(args[3], "in_w"), in_c = get_dim(args[4], "in_c");
    int32_t k_h = get_dim(args[5], "k_h"), k_w = get_dim(args[6], "k_w");
    int32_t out_h = get_dim(args[13], "out_h"), out_w = get_dim(args[14], "out_w");
    const int8_t *x = get_buf(args[0], 'b', product(product(in_h, in_w, "x"), in_c, "x"), 0, 0, "x");
    mp_int_t row = product(product(k_h, k_w, "col"), in_c, "col");
    int8_t *col = get_buf(args[1], 'b', product(product(out_h, out_w, "col"), row, "col"), 1, 0, "col");
    int st = ul_im2col_s8(x, col, in_h, in_w, in_c, k_h, k_w, get_i32(args[7], "stride_h"),
                          get_i32(args[8], "stride_w"), get_i32(args[9], "dil_h"), get_i32(args[10], "dil_w"),
                          get_i32(args[11], "pad_top"), get_i32(args[12], "pad_left"), out_h, out_w, 0,
                          out_h * out_w, get_i32(args[15], "pad_value"));
    check_status(st, NULL, NULL, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_im2col_s8_obj, 16, 16, ul_py_im2col_s8);

/* An exact int64 as a Python int (a small int where it fits, otherwise built from 30-bit parts). */
static mp_obj_t int_from_i64(int64_t v) {
    if (v >= -(1 << 29) && v < (1 << 29)) {
        return mp_obj_new_int((mp_int_t)v);
    }
    int neg = v < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    mp_obj_t r = mp_obj_new_int((mp_int_t)(u >> 60));
    mp_obj_t thirty = mp_obj_new_int(30);
    r = mp_binary_op(MP_BINARY_OP_OR, mp_binary_op(MP_BINARY_OP_LSHIFT, r, thirty),
                     mp_obj_new_int((mp_int_t)((u >> 30) & 0x3FFFFFFF)));
    r = mp_binary_op(MP_BINARY_OP_OR, mp_binary_op(MP_BINARY_OP_LSHIFT, r, thirty),
                     mp_obj_new_int((mp_int_t)(u & 0x3FFFFFFF)));
    return neg ? mp_binary_op(MP_BINARY_OP_SUBTRACT, mp_obj_new_int(0), r) : r;
}

/* dot_q15(a, b, n) -> int */
static mp_obj_t ul_py_dot_q15(mp_obj_t a_obj, mp_obj_t b_obj, mp_obj_t n_obj) {
    int32_t n = get_dim(n_obj, "n");
    const int16_t *a = get_buf(a_obj, 'h', n, 0, 0, "a");
    const int16_t *b = get_buf(b_obj, 'h', n, 0, 0, "b");
    int64_t r = 0;
    check_status(ul_dot_q15(a, b, n, &r), NULL, NULL, 0);
    return int_from_i64(r);
}
static MP_DEFINE_CONST_FUN_OBJ_3(ul_dot_q15_obj, ul_py_dot_q15);

/* matvec_q15(w, x, bias, out, rows, cols, shift) */
static mp_obj_t ul_py_matvec_q15(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    int32_t rows = get_dim(args[4], "rows"), cols = get_dim(args[5], "cols");
    const int16_t *w = get_buf(args[0], 'h', product(rows, cols, "w"), 0, 0, "w");
    const int16_t *x = get_buf(args[1], 'h', cols, 0, 0, "x");
    const int32_t *bias = get_buf(args[2], 'i', rows, 0, 1, "bias");
    int32_t *out = get_buf(args[3], 'i', rows, 1, 0, "out");
    check_status(ul_matvec_q15(w, x, bias, out, rows, cols, get_i32(args[6], "shift")), NULL, NULL, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_matvec_q15_obj, 7, 7, ul_py_matvec_q15);

/* conv_col_size(in_c, k_h, k_w, out_h, out_w) -> bytes */
static mp_obj_t ul_py_conv_col_size(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return mp_obj_new_int((mp_int_t)ul_conv_col_size(get_dim(args[0], "in_c"), get_dim(args[1], "k_h"),
                                                     get_dim(args[2], "k_w"), get_dim(args[3], "out_h"),
                                                     get_dim(args[4], "out_w")));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ul_conv_col_size_obj, 5, 5, ul_py_conv_col_size);

#if MICROPY_ENABLE_DYNRUNTIME
/* ---- dynamic native module (.mpy) ---- */

/* A native module has no C library: memcpy/memset come from the interpreter's function table. */
void *memcpy(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}

void *memset(void *s, int c, size_t n) {
    return mp_fun_table.memset_(s, c, n);
}

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_ABI, MP_OBJ_NEW_SMALL_INT(ULEARN_NATIVE_ABI));
    mp_store_global(MP_QSTR_gemm_s8, MP_OBJ_FROM_PTR(&ul_gemm_s8_obj));
    mp_store_global(MP_QSTR_gemm_s32, MP_OBJ_FROM_PTR(&ul_gemm_s32_obj));
    mp_store_global(MP_QSTR_gemm_prep_size, MP_OBJ_FROM_PTR(&ul_gemm_prep_size_obj));
    mp_store_global(MP_QSTR_gemm_prepare, MP_OBJ_FROM_PTR(&ul_gemm_prepare_obj));
    mp_store_global(MP_QSTR_gemm_s8_prep, MP_OBJ_FROM_PTR(&ul_gemm_s8_prep_obj));
    mp_store_global(MP_QSTR_im2col_s8, MP_OBJ_FROM_PTR(&ul_im2col_s8_obj));
    mp_store_global(MP_QSTR_conv_s8, MP_OBJ_FROM_PTR(&ul_conv_s8_obj));
    mp_store_global(MP_QSTR_conv_col_size, MP_OBJ_FROM_PTR(&ul_conv_col_size_obj));
    mp_store_global(MP_QSTR_pool_s8, MP_OBJ_FROM_PTR(&ul_pool_s8_obj));
    mp_store_global(MP_QSTR_softmax_s8, MP_OBJ_FROM_PTR(&ul_softmax_s8_obj));
    mp_store_global(MP_QSTR_dot_q15, MP_OBJ_FROM_PTR(&ul_dot_q15_obj));
    mp_store_global(MP_QSTR_matvec_q15, MP_OBJ_FROM_PTR(&ul_matvec_q15_obj));
    MP_DYNRUNTIME_INIT_EXIT
}
#else
/* ---- firmware user C module ---- */
static const mp_rom_map_elem_t ulearn_native_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_ulearn_native) },
    { MP_ROM_QSTR(MP_QSTR_ABI), MP_ROM_INT(ULEARN_NATIVE_ABI) },
    { MP_ROM_QSTR(MP_QSTR_gemm_s8), MP_ROM_PTR(&ul_gemm_s8_obj) },
    { MP_ROM_QSTR(MP_QSTR_gemm_s32), MP_ROM_PTR(&ul_gemm_s32_obj) },
    { MP_ROM_QSTR(MP_QSTR_gemm_prep_size), MP_ROM_PTR(&ul_gemm_prep_size_obj) },
    { MP_ROM_QSTR(MP_QSTR_gemm_prepare), MP_ROM_PTR(&ul_gemm_prepare_obj) },
    { MP_ROM_QSTR(MP_QSTR_gemm_s8_prep), MP_ROM_PTR(&ul_gemm_s8_prep_obj) },
    { MP_ROM_QSTR(MP_QSTR_im2col_s8), MP_ROM_PTR(&ul_im2col_s8_obj) },
    { MP_ROM_QSTR(MP_QSTR_conv_s8), MP_ROM_PTR(&ul_conv_s8_obj) },
    { MP_ROM_QSTR(MP_QSTR_conv_col_size), MP_ROM_PTR(&ul_conv_col_size_obj) },
    { MP_ROM_QSTR(MP_QSTR_pool_s8), MP_ROM_PTR(&ul_pool_s8_obj) },
    { MP_ROM_QSTR(MP_QSTR_softmax_s8), MP_ROM_PTR(&ul_softmax_s8_obj) },
    { MP_ROM_QSTR(MP_QSTR_dot_q15), MP_ROM_PTR(&ul_dot_q15_obj) },
    { MP_ROM_QSTR(MP_QSTR_matvec_q15), MP_ROM_PTR(&ul_matvec_q15_obj) },
};
static MP_DEFINE_CONST_DICT(ulearn_native_globals, ulearn_native_globals_table);

const mp_obj_module_t ulearn_native_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&ulearn_native_globals,
};

MP_REGISTER_MODULE(MP_QSTR_ulearn_native, ulearn_native_user_cmodule);
#endif
