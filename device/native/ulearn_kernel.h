/*
 * ulearn C kernels: int8 GEMM with fused TFLite requantization, int32 GEMM, im2col, conv layer,
 * Q15 dot / matrix-vector. Pure C99, no MicroPython, no allocation; every entry returns a status.
 *
 * Arithmetic is exactly that of lib/ulearn/backend.py (the pure-Python reference):
 *   acc = sum_k (a + a_off)(b + b_off) + bias         wrapped to int32 (two's complement)
 *   out = clamp(requantize(acc, mult, shift) + out_off, act_min, act_max)
 * with requantize as in lib/ulearn/fixedpoint.py (TFLite int8 spec; left shift saturating).
 * Matrices are row-major; b holds one row of K weights per output channel (N x K).
 * On Cortex-M4/M7 (__ARM_FEATURE_DSP) an SXTAB16 + SMLAD path runs; otherwise portable C.
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

/* The requantization of one int32 accumulator (exposed for tests). */
int32_t ul_requantize(int32_t acc, int32_t mult, int32_t shift);

#endif
