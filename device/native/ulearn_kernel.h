/*
 * ulearn C kernels: int8 GEMM with fused TFLite requantization, int32 GEMM, im2col, conv layer,
 * Q15 dot / matrix-vector, int8 pooling and softmax. Pure C99, no MicroPython, no allocation; every
 * entry returns a status.
 *
 * Arithmetic is exactly that of lib/ulearn/backend.py (the pure-Python reference):
 *   acc = sum_k (a + a_off)(b + b_off) + bias         wrapped to int32 (two's complement)
 *   out = clamp(requantize(acc, mult, shift) + out_off, act_min, act_max)
 * with requantize as in lib/ulearn/fixedpoint.py (TFLite int8 spec; left shift saturating).
 * Matrices are row-major; b holds one row of K weights per output channel (N x K).
 * On Cortex-M4/M7 (__ARM_FEATURE_DSP) an SXTAB16 + SMLAD path runs; on x86-64 (SSE2, the baseline of
 * every x86-64) GEMMs of 2+ rows and whole conv layers run with PMADDWD over pairs of k and a 4-lane
 * exact requantization, conv1d windows read in place from the once-widened input; otherwise portable C
 * (UL_FORCE_PORTABLE: no DSP/SSE2 path; UL_FORCE_SCALAR: the microcontroller C loops on any host).
 * Every path returns the same integers. Stack: <= 3 KB on Cortex-M, <= 17 KB on hosts.
 */
#ifndef ULEARN_KERNEL_H
#define ULEARN_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#define UL_ABI 1

enum {
    UL_OK = 0,
    UL_E_DIM = -1,      /* a dimension is negative (or a kernel/stride/dilation < 1) */
    UL_E_AOFF = -2,     /* a_off / in_off outside its range */
    UL_E_BOFF = -3,     /* b_off outside [-255, 255] */
    UL_E_OUTOFF = -4,   /* out_off outside [-128, 127] */
    UL_E_ACT = -5,      /* need -128 <= act_min <= act_max <= 127 */
    UL_E_SHIFT = -6,    /* a per-channel shift outside [-31, 30] (or a Q15 shift outside [0, 31]) */
    UL_E_MULT = -7,     /* a per-channel multiplier is negative */
    UL_E_SCRATCH = -8,  /* conv scratch smaller than one im2col row */
    UL_E_PAD = -9,      /* pad value outside [-128, 127] */
    UL_E_NULL = -10,    /* a required pointer is NULL */
    UL_E_PREP = -11,    /* prepared-weights buffer misaligned, too small, or prepared for other n/k */
    UL_E_WINDOW = -12,  /* a pooling window holds no input tap (padding >= kernel, or out_h/out_w too
                           large for the input), or a window of more than 2^23 taps */
    UL_E_DIFFMIN = -13, /* softmax diff_min > 0 */
};

#define UL_OFF_LIMIT 255
#define UL_CONV_ROWS 32   /* im2col rows per block that ul_conv_col_size asks for */

int ul_gemm_s8(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
               const int8_t *shift, int8_t *out, int32_t m, int32_t n, int32_t k,
               int32_t a_off, int32_t b_off, int32_t out_off, int32_t act_min, int32_t act_max);

/* Prepared weights: b (n x k, int8) + b_off and bias (int32, may be NULL) laid out once in a
   caller-owned, 4-byte aligned buffer of ul_gemm_prep_size(n, k) bytes (0 for impossible n/k), then
   used by any number of ul_gemm_s8_prep calls: the same integers as ul_gemm_s8 with that b, bias, b_off,
   without re-arranging the weights on every call (the fast path on Cortex-M4/M7). */
size_t ul_gemm_prep_size(int32_t n, int32_t k);
int ul_gemm_prepare(const int8_t *b, const int32_t *bias, int32_t n, int32_t k, int32_t b_off, void *buf,
                    size_t buf_size);
int ul_gemm_s8_prep(const int8_t *a, const void *wprep, const int32_t *mult, const int8_t *shift, int8_t *out,
                    int32_t m, int32_t n, int32_t k, int32_t a_off, int32_t out_off, int32_t act_min,
                    int32_t act_max);

int ul_gemm_s32(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t *out,
                int32_t m, int32_t n, int32_t k, int32_t a_off, int32_t b_off);

/* im2col of output pixels row0 .. row0+rows-1 (raster order) into col (rows x k_h*k_w*in_c). */
int ul_im2col_s8(const int8_t *x, int8_t *col, int32_t in_h, int32_t in_w, int32_t in_c,
                 int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                 int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t out_h, int32_t out_w,
                 int32_t row0, int32_t rows, int32_t pad_value);

/* Bytes of int8 scratch ul_conv_s8 wants: up to UL_CONV_ROWS im2col rows, multiple of 4. */
size_t ul_conv_col_size(int32_t in_c, int32_t k_h, int32_t k_w, int32_t out_h, int32_t out_w);

/* Whole conv1d/conv2d layer, NHWC batch 1, weights OHWI; col: caller scratch of col_size bytes
   (>= one row of k_h*k_w*in_c). in_off = -input zero point, out_off = output zero point. */
int ul_conv_s8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *mult,
               const int8_t *shift, int8_t *out, int8_t *col, size_t col_size,
               int32_t in_h, int32_t in_w, int32_t in_c, int32_t out_c, int32_t k_h, int32_t k_w,
               int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w,
               int32_t pad_top, int32_t pad_left, int32_t out_h, int32_t out_w,
               int32_t in_off, int32_t out_off, int32_t act_min, int32_t act_max);

/* Exact sum_i a[i]*b[i] (int64). */
int ul_dot_q15(const int16_t *a, const int16_t *b, int32_t n, int64_t *result);

/* out[r] = sat32((sum_c w[r,c]*x[c] + bias[r] + round) >> shift), 64-bit sums, shift in [0, 31]. */
int ul_matvec_q15(const int16_t *w, const int16_t *x, const int32_t *bias, int32_t *out,
                  int32_t rows, int32_t cols, int32_t shift);

/* ---- pooling (int8 NHWC, batch 1; TFLite int8 MaxPool2D / AveragePool2D reference semantics) ----
 * Output pixel (oy, ox) pools the taps of its window that lie inside the input:
 *   rows    max(0, oy*s_h - pad_top)  .. min(in_h, oy*s_h - pad_top + k_h) - 1
 *   columns max(0, ox*s_w - pad_left) .. min(in_w, ox*s_w - pad_left + k_w) - 1
 * (padding taps are skipped, never counted: VALID is pad 0; SAME is TFLite's pad_top/pad_left).
 *   max:     the largest tap,                                      then clamp to [act_min, act_max]
 *   average: acc = sum of the taps, count = number of taps,
 *            acc > 0 ? (acc + count/2) / count : (acc - count/2) / count   (C division: toward 0)
 *            then clamp to [act_min, act_max]          (= lib/ulearn/nn/layers.py pool, TFLite Micro)
 * 1-D pooling (conv1d feature maps, W x C) is in_h = out_h = k_h = s_h = 1, pad_top = 0.
 * Buffers: x holds in_h*in_w*c int8 (HWC), out out_h*out_w*c int8 (HWC); no alignment needed, no
 * scratch, no allocation; x and out must not overlap.
 * Status: UL_E_DIM (a size < 0, a kernel or stride < 1, a padding < 0), UL_E_ACT (need
 * -128 <= act_min <= act_max <= 127), UL_E_WINDOW (a window with no tap inside the input: TFLite
 * Micro refuses these too; or more than 2^23 taps per window), UL_E_NULL (x/out NULL with work to do).
 * Nothing is written unless the status is UL_OK. */
int ul_max_pool_s8(const int8_t *x, int8_t *out, int32_t in_h, int32_t in_w, int32_t c, int32_t out_h,
                   int32_t out_w, int32_t k_h, int32_t k_w, int32_t s_h, int32_t s_w, int32_t pad_top,
                   int32_t pad_left, int32_t act_min, int32_t act_max);
int ul_avg_pool_s8(const int8_t *x, int8_t *out, int32_t in_h, int32_t in_w, int32_t c, int32_t out_h,
                   int32_t out_w, int32_t k_h, int32_t k_w, int32_t s_h, int32_t s_w, int32_t pad_top,
                   int32_t pad_left, int32_t act_min, int32_t act_max);

/* The same from the runtime's 14-int32 pooling parameter block (lib/ulearn/nn/layers.py pool, made
 * at load): p = {is_max, in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left,
 * act_min + 128, act_max + 128}; is_max 1 = max pooling, 0 = average, anything else UL_E_DIM.
 * For a binding: x needs p[1]*p[2]*p[3] bytes, out p[4]*p[5]*p[3] (ul_pool_sizes computes both). */
#define UL_POOL_PARAMS 14
int ul_pool_s8(const int8_t *x, int8_t *out, const int32_t *p);

/* Bytes of x and out that ul_pool_s8 reads and writes for the block p (UL_E_DIM if a size is negative
 * or a product overflows int32; UL_E_NULL if p or a result pointer is NULL). */
int ul_pool_sizes(const int32_t *p, int32_t *in_bytes, int32_t *out_bytes);

/* ---- int8 softmax (TFLite Micro's int8 Softmax reference arithmetic; = lib/ulearn/nn/_softmax.py) ----
 * out[i] = softmax of x[0..n-1], output scale 1/256, zero point -128:
 *   top = max x;  for each i: d = top - x[i] (0 .. 255)
 *     e[i] = 0                                           if -d < diff_min (the value does not count)
 *          = exp_on_negative_values(srdhm(-d << left_shift, mult))   Q5.26 -> Q0.31 (gemmlowp)
 *   total = sum_i RoundingDivideByPOT(e[i], 12);  clz = leading zeros of total (int32)
 *   scale = one_over_one_plus_x_for_x_in_0_1((total << clz) - 2^31)    (gemmlowp, Q0.31)
 *   out[i] = clamp(RoundingDivideByPOT(srdhm(scale, e[i]), 35 - clz) - 128, -128, 127)
 * mult, left_shift, diff_min: TFLite's PreprocessSoftmaxScaling (input_multiplier, input_left_shift)
 * and CalculateInputRadius (diff_min = -radius), as ulearn's blobs carry them. srdhm(-d << left_shift,
 * mult) is computed exactly (as the Python reference does) even for a diff_min that lets d << left_shift
 * leave int32. Each e[i] is computed twice (for the sum, then for the output): no scratch, no
 * allocation, stack < 100 bytes; x and out may be the same buffer (not otherwise overlapping).
 * Status: UL_E_DIM (n < 0 or n > UL_SOFTMAX_MAX: the int32 sum of exps could wrap), UL_E_MULT
 * (mult < 0), UL_E_SHIFT (left_shift outside [0, 30]), UL_E_DIFFMIN (diff_min > 0), UL_E_NULL (x/out
 * NULL with n > 0). Nothing is written unless the status is UL_OK; n == 0 writes nothing. */
#define UL_SOFTMAX_MAX 4095
int ul_softmax_s8(const int8_t *x, int8_t *out, int32_t n, int32_t mult, int32_t left_shift,
                  int32_t diff_min);

/* The requantization of one int32 accumulator (exposed for tests). */
int32_t ul_requantize(int32_t acc, int32_t mult, int32_t shift);

#endif
