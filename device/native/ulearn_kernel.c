/*
 * ulearn C kernels (see ulearn_kernel.h). Pure C99, no allocation, no MicroPython.
 *
 * DSP path (Cortex-M4/M7, __ARM_FEATURE_DSP): for each block of 4 output channels the weights are
 * expanded once to (b + b_off) int16 pairs in a small stack buffer, laid out as SMLAD wants them;
 * every activation word (4 int8) is then unpacked with two SXTAB16 (adding a_off) and feeds eight
 * SMLADs (16 MACs): 15 instructions per 16 MACs in the inner loop. Portable C beside it.
 */
#include "ulearn_kernel.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(UL_FORCE_PORTABLE)
#define UL_DSP 1
#include <arm_acle.h>
#else
#define UL_DSP 0
#endif

/* x86-64 hosts (the unix port's natmod): SSE2 PMADDWD; UL_FORCE_PORTABLE / UL_FORCE_SCALAR turn it off */
#if defined(__SSE2__) && !defined(UL_FORCE_PORTABLE) && !defined(UL_FORCE_SCALAR)
#define UL_SSE2 1
#include <emmintrin.h>
#else
#define UL_SSE2 0
#endif

#define UL_COLS 4          /* output channels per block */
#define UL_DSP_KMAX 256    /* longest K expanded on the stack (2 KB); longer K runs portable C */
#define UL_DSP_SMALL_M 4   /* up to this many rows: no weight expansion (gemm_dsp_small) */
#define UL_RB 32           /* rows summed before the per-channel requantization loops (512 B) */

/* ---- fixed point (lib/ulearn/fixedpoint.py) ---- */

static inline int32_t requant(int32_t x, int32_t mult, int32_t shift) {
    int32_t right = 0;
    if (shift > 0) {   /* x << shift, saturated to int32 */
        int64_t t = (int64_t)x * ((int64_t)1 << shift);
        x = t > INT32_MAX ? INT32_MAX : (t < INT32_MIN ? INT32_MIN : (int32_t)t);
    } else {
        right = -shift;
    }
    /* SRDHM: trunc((x*m + nudge) / 2^31) equals floor((x*m + 2^30) / 2^31) for every x*m
       except INT32_MIN*INT32_MIN, which cannot occur since mult >= 0. */
    int32_t h = (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
    if (right > 0) {   /* RoundingDivideByPOT */
        int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
        int32_t rem = h & mask;
        int32_t thr = (mask >> 1) + (h < 0);
        h = (h >> right) + (rem > thr);
    }
    return h;
}

int32_t ul_requantize(int32_t acc, int32_t mult, int32_t shift) {
    return requant(acc, mult, shift);
}

#if UL_DSP
static inline int32_t smmulr(int32_t x, int32_t y) {   /* (x*y + 2^31) >> 32 */
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(x), "r"(y));
    return r;
}
#endif

static inline int8_t finish(uint32_t acc, int32_t mult, int32_t shift, int32_t out_off,
                            int32_t act_min, int32_t act_max) {
#if UL_DSP
    /* |acc| < 2^30 and no left shift: SRDHM = SMMULR(2*acc, mult) and the rounding divide by 2^r
       is (h + 2^(r-1) - (h < 0)) >> r (no overflow); the same integers as requant() */
    if (shift <= 0 && acc + (1u << 30) < (1u << 31)) {
        int32_t h = smmulr((int32_t)(acc << 1), mult), r = -shift;
        if (r) {
            h = (h + (int32_t)(1u << (r - 1)) + (h >> 31)) >> r;
        }
        h = __ssat(__qadd(h, out_off), 8);
        return (int8_t)(h > act_max ? act_max : (h < act_min ? act_min : h));
    }
#endif
    int32_t h = requant((int32_t)acc, mult, shift);
    h = h > 255 ? 255 : (h < -256 ? -256 : h);   /* keeps h + out_off from overflowing; same clamp result */
    h += out_off;
    h = h > act_max ? act_max : (h < act_min ? act_min : h);
    return (int8_t)h;
}

/* ---- checks (the prepare step; the compute below only computes) ---- */

static int check_gemm(const void *a, const void *b, const void *out, int32_t m, int32_t n, int32_t k,
                      int32_t a_off, int32_t b_off) {
    if (m < 0 || n < 0 || k < 0) {
        return UL_E_DIM;
    }
    if (a_off < -UL_OFF_LIMIT || a_off > UL_OFF_LIMIT) {
        return UL_E_AOFF;
    }
    if (b_off < -UL_OFF_LIMIT || b_off > UL_OFF_LIMIT) {
        return UL_E_BOFF;
    }
    if ((m && k && !a) || (n && k && !b) || (m && n && !out)) {
        return UL_E_NULL;
    }
    return UL_OK;
}

static int check_requant(const int32_t *mult, const int8_t *shift, int32_t n, int32_t out_off,
                         int32_t act_min, int32_t act_max) {
    if (n && (!mult || !shift)) {
        return UL_E_NULL;
    }
    for (int32_t j = 0; j < n; j++) {
        if (shift[j] < -31 || shift[j] > 30) {
            return UL_E_SHIFT;
        }
        if (mult[j] < 0) {
            return UL_E_MULT;
        }
    }
    if (out_off < -128 || out_off > 127) {
        return UL_E_OUTOFF;
    }
    if (act_min < -128 || act_min > act_max || act_max > 127) {
        return UL_E_ACT;
    }
    return UL_OK;
}

/* ---- GEMM core: raw int32 sums for up to UL_COLS columns, then an epilogue per output ---- */

static inline void store_block(const uint32_t *acc, int32_t nc, int32_t j0, const int32_t *bias,
                               const int32_t *mult, const int8_t *shift, int8_t *out8, int32_t *out32,
                               int32_t out_off, int32_t act_min, int32_t act_max) {
    for (int32_t c = 0; c < nc; c++) {
        int32_t j = j0 + c;
        uint32_t s = acc[c] + (bias ? (uint32_t)bias[j] : 0u);
        if (out8) {
            out8[j] = finish(s, mult[j], shift[j], out_off, act_min, act_max);
        } else {
            out32[j] = (int32_t)s;
        }
    }
}

#if defined(UL_FORCE_SCALAR) || !(defined(__x86_64__) || defined(__i386__) || defined(__aarch64__))
/* Microcontrollers (Cortex-M without DSP or UL_FORCE_PORTABLE, Xtensa, RISC-V): small stack, no SIMD;
   4 channels share each activation load. */
static void gemm_portable(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
                          const int8_t *shift, int8_t *out8, int32_t *out32, int32_t m, int32_t n,
                          int32_t k, int32_t a_off, int32_t b_off, int32_t out_off, int32_t act_min,
                          int32_t act_max) {
    for (int32_t i = 0; i < m; i++) {
        const int8_t *ar = a + (size_t)i * (size_t)k;
        int8_t *o8 = out8 ? out8 + (size_t)i * (size_t)n : NULL;
        int32_t *o32 = out32 ? out32 + (size_t)i * (size_t)n : NULL;
        int32_t j0 = 0;
        for (; j0 + UL_COLS <= n; j0 += UL_COLS) {
            const int8_t *b0 = b + (size_t)j0 * (size_t)k;
            const int8_t *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
            uint32_t acc[UL_COLS] = {0, 0, 0, 0};
            for (int32_t t = 0; t < k; t++) {
                int32_t av = ar[t] + a_off;   /* |products| <= 383*383: no int32 overflow */
                acc[0] += (uint32_t)(av * (b0[t] + b_off));
                acc[1] += (uint32_t)(av * (b1[t] + b_off));
                acc[2] += (uint32_t)(av * (b2[t] + b_off));
                acc[3] += (uint32_t)(av * (b3[t] + b_off));
            }
            store_block(acc, UL_COLS, j0, bias, mult, shift, o8, o32, out_off, act_min, act_max);
        }
        for (; j0 < n; j0++) {
            const int8_t *bj = b + (size_t)j0 * (size_t)k;
            uint32_t acc[1] = {0};
            for (int32_t t = 0; t < k; t++) {
                acc[0] += (uint32_t)((ar[t] + a_off) * (bj[t] + b_off));
            }
            store_block(acc, 1, j0, bias, mult, shift, o8, o32, out_off, act_min, act_max);
        }
    }
}
#else
/* Hosts (x86, AArch64): SIMD and a large stack; int16 dot products that compilers vectorize. */
#define UL_DOT_CHUNK 8192   /* 8192 * 383 * 383 < 2^31: a chunk's int32 sum cannot overflow */

/* sum_t (a[t] + a_off)(b[t] + b_off) for t < k <= UL_DOT_CHUNK; int16 operands so that compilers
   vectorize it as a widening dot product (pmaddwd / SMLAD-like). */
static int32_t dot_s8(const int8_t *a, const int8_t *b, int32_t k, int32_t a_off, int32_t b_off) {
    const int16_t ao = (int16_t)a_off, bo = (int16_t)b_off;
    int32_t acc = 0;
    for (int32_t t = 0; t < k; t++) {
        int16_t x = (int16_t)(a[t] + ao), y = (int16_t)(b[t] + bo);
        acc += (int32_t)x * y;
    }
    return acc;
}

#define UL_ROW16 256   /* rows of A up to this long are widened once (512 bytes of stack) */
#define UL_SUMS 32     /* output channels summed before one requantization loop */
#define UL_W16 8192    /* weights up to this many are widened once per call (16 KB of stack: hosts only) */

/* sum_t a16[t] * b16[t] (k <= UL_ROW16: no overflow): a plain int16 dot product (pmaddwd) */
static int32_t dot_s16(const int16_t *a16, const int16_t *b16, int32_t k) {
    int32_t acc = 0;
    for (int32_t t = 0; t < k; t++) {
        acc += (int32_t)a16[t] * b16[t];
    }
    return acc;
}

/* sum_t a16[t] * (b[t] + b_off), a16 already widened with its offset (k <= UL_ROW16: no overflow) */
static int32_t dot_s16s8(const int16_t *a16, const int8_t *b, int32_t k, int32_t b_off) {
    const int16_t bo = (int16_t)b_off;
    int32_t acc = 0;
    for (int32_t t = 0; t < k; t++) {
        int16_t y = (int16_t)(b[t] + bo);
        acc += (int32_t)a16[t] * y;
    }
    return acc;
}

static void gemm_portable(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
                          const int8_t *shift, int8_t *out8, int32_t *out32, int32_t m, int32_t n,
                          int32_t k, int32_t a_off, int32_t b_off, int32_t out_off, int32_t act_min,
                          int32_t act_max) {
    int16_t a16[UL_ROW16];
    int16_t b16[UL_W16];
    const int wide = k <= UL_ROW16 && (int64_t)n * k <= UL_W16 && m > 1;
    if (wide) {   /* widen every weight once (b_off added) */
        for (int32_t t = 0; t < n * k; t++) {
            b16[t] = (int16_t)(b[t] + b_off);
        }
    }
    for (int32_t i = 0; i < m; i++) {
        const int8_t *ar = a + (size_t)i * (size_t)k;
        int8_t *o8 = out8 ? out8 + (size_t)i * (size_t)n : NULL;
        int32_t *o32 = out32 ? out32 + (size_t)i * (size_t)n : NULL;
        if (k <= UL_ROW16) {   /* widen this row once, reuse it for every output channel */
            for (int32_t t = 0; t < k; t++) {
                a16[t] = (int16_t)(ar[t] + a_off);
            }
        }
        for (int32_t j0 = 0; j0 < n; j0 += UL_SUMS) {   /* sums of a block of channels, then requantize */
            const int32_t nc = n - j0 < UL_SUMS ? n - j0 : UL_SUMS;
            uint32_t acc[UL_SUMS];
            for (int32_t c = 0; c < nc; c++) {
                const int8_t *bj = b + (size_t)(j0 + c) * (size_t)k;
                if (wide) {
                    acc[c] = (uint32_t)dot_s16(a16, b16 + (size_t)(j0 + c) * (size_t)k, k);
                } else if (k <= UL_ROW16) {
                    acc[c] = (uint32_t)dot_s16s8(a16, bj, k, b_off);
                } else {
                    acc[c] = 0;
                    for (int32_t t0 = 0; t0 < k; t0 += UL_DOT_CHUNK) {   /* chunks wrap-add as uint32 */
                        int32_t len = k - t0 < UL_DOT_CHUNK ? k - t0 : UL_DOT_CHUNK;
                        acc[c] += (uint32_t)dot_s8(ar + t0, bj + t0, len, a_off, b_off);
                    }
                }
            }
            store_block(acc, nc, j0, bias, mult, shift, o8, o32, out_off, act_min, act_max);
        }
    }
}

#endif

#if UL_DSP
static inline uint32_t ld32(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);   /* LDR: unaligned access is fine on Cortex-M4/M7 */
    return v;
}

static inline uint32_t sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static inline uint32_t sxtab16_ror8(uint32_t add, uint32_t x) {
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(add), "r"(x));
    return r;
}

static inline uint32_t pack16(int32_t lo, int32_t hi) {
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

/* Tail word of up to 3 bytes (missing bytes read as 0, never past the end). */
static inline uint32_t tail32(const int8_t *p, int32_t r) {
    uint32_t v = 0;
    memcpy(&v, p, (size_t)r);
    return v;
}

/* s[0..3] = sum over `quads` x 4 bytes of p of sxtb16(a) . e (4 expanded channels): 13 instructions
   per 16 MACs, the loop unrolled by four (2 loop instructions per 64 MACs), then single k-quads.
   Registers are fixed so that LDM fills them in order; r9 is left alone (PIC base in native modules). */
__attribute__((noinline))   /* a call of its own: all registers free (and the PIC base in modules) */
static void mac4(const int8_t *p, const uint32_t *e, uint32_t quads, int32_t *s) {
    register const int8_t *rp __asm__("r0") = p;
    register const uint32_t *re __asm__("r1") = e;
    uint32_t groups = quads >> 2, singles = quads & 3;
    int32_t *sp = s;
    __asm__ volatile(
        "movs r4, #0\n"
        "movs r5, #0\n"
        "movs r6, #0\n"
        "movs r7, #0\n"
        "ldr lr, %[groups]\n"
        "cmp lr, #0\n"
        "beq 2f\n"
        "1:\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "subs lr, lr, #1\n"
        "bne 1b\n"
        "2:\n"
        "ldr lr, %[singles]\n"
        "cmp lr, #0\n"
        "beq 4f\n"
        "3:\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "subs lr, lr, #1\n"
        "bne 3b\n"
        "4:\n"
        "ldr r12, %[s]\n"
        "stmia r12, {r4, r5, r6, r7}\n"
        : [p] "+r"(rp), [e] "+r"(re)
        : [groups] "m"(groups), [singles] "m"(singles), [s] "m"(sp)
        : "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r10", "r11", "r12", "lr", "cc", "memory");
}

/* mac4 for `rows` consecutive rows of A (K a multiple of 4, so rows follow each other): the row loop
   runs in the assembly too; row r's sums go to s[4r .. 4r+3]. */
__attribute__((noinline))   /* one call per block of up to 32 rows */
static void mac4_rows(const int8_t *p, const uint32_t *buf, uint32_t quads, int32_t rows, int32_t *s) {
    register const int8_t *rp __asm__("r0") = p;
    register const uint32_t *re __asm__("r1") = buf;
    uint32_t groups = quads >> 2, singles = quads & 3;
    int32_t *sp = s;
    int32_t left = rows;
    __asm__ volatile(
        "0:\n"
        "ldr %[e], %[buf]\n"
        "movs r4, #0\n"
        "movs r5, #0\n"
        "movs r6, #0\n"
        "movs r7, #0\n"
        "ldr lr, %[groups]\n"
        "cmp lr, #0\n"
        "beq 2f\n"
        "1:\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "subs lr, lr, #1\n"
        "bne 1b\n"
        "2:\n"
        "ldr lr, %[singles]\n"
        "cmp lr, #0\n"
        "beq 4f\n"
        "3:\n"
        "ldr r8, [%[p]], #4\n"
        "sxtb16 r12, r8\n"
        "sxtb16 r8, r8, ror #8\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r4, r12, r2, r4\n"
        "smlad r4, r8, r3, r4\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, r8, r11, r5\n"
        "ldmia %[e]!, {r2, r3, r10, r11}\n"
        "smlad r6, r12, r2, r6\n"
        "smlad r6, r8, r3, r6\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, r8, r11, r7\n"
        "subs lr, lr, #1\n"
        "bne 3b\n"
        "4:\n"
        "ldr r12, %[s]\n"
        "stmia r12!, {r4, r5, r6, r7}\n"
        "str r12, %[s]\n"
        "ldr r12, %[left]\n"
        "subs r12, r12, #1\n"
        "str r12, %[left]\n"
        "bne 0b\n"
        : [p] "+r"(rp), [e] "+r"(re), [s] "+m"(sp), [left] "+m"(left)
        : [groups] "m"(groups), [singles] "m"(singles), [buf] "m"(buf)
        : "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r10", "r11", "r12", "lr", "cc", "memory");
}

/* One k-quad of 4 expanded channels (C with intrinsics: the odd quad and the zero-padded tail). */
static inline void mac4x4(uint32_t w, const uint32_t *e, int32_t *s) {
    uint32_t x02 = __sxtb16(w), x13 = sxtb16_ror8(w);
    s[0] = __smlad(x02, e[0], s[0]);
    s[0] = __smlad(x13, e[1], s[0]);
    s[1] = __smlad(x02, e[2], s[1]);
    s[1] = __smlad(x13, e[3], s[1]);
    s[2] = __smlad(x02, e[4], s[2]);
    s[2] = __smlad(x13, e[5], s[2]);
    s[3] = __smlad(x02, e[6], s[3]);
    s[3] = __smlad(x13, e[7], s[3]);
}

/* s[0..3] = sum over `pairs` x 2 k-quads of sxtb16(w_c) . x for 4 weight rows w0..w3 against one
   expanded activation row x (int16 pairs): 21 instructions per 16 MACs, plus 3 of loop per 32. */
#ifdef __PIC__
__attribute__((noinline))
#else
inline
#endif
static void mac_rows4(const uint32_t *x, const int8_t *w, int32_t k, uint32_t pairs, int32_t *s) {
    register const uint32_t *rx __asm__("r0") = x;
    register const int8_t *r1 __asm__("r1") = w;
    register const int8_t *r2 __asm__("r2") = w + k;
    register const int8_t *r3 __asm__("r3") = w + 2 * k;
    register const int8_t *r4 __asm__("r4") = w + 3 * k;
    const uint32_t *end = x + 4 * pairs;
    int32_t *sp = s;
    __asm__ volatile(
        "movs r5, #0\n"
        "movs r6, #0\n"
        "movs r7, #0\n"
        "movs r8, #0\n"
        "1:\n"
        "ldrd r10, r11, [%[x]], #8\n"
        "ldr r12, [%[w0]], #4\n"
        "sxtb16 lr, r12, ror #8\n"
        "sxtb16 r12, r12\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, lr, r11, r5\n"
        "ldr r12, [%[w1]], #4\n"
        "sxtb16 lr, r12, ror #8\n"
        "sxtb16 r12, r12\n"
        "smlad r6, r12, r10, r6\n"
        "smlad r6, lr, r11, r6\n"
        "ldr r12, [%[w2]], #4\n"
        "sxtb16 lr, r12, ror #8\n"
        "sxtb16 r12, r12\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, lr, r11, r7\n"
        "ldr r12, [%[w3]], #4\n"
        "sxtb16 lr, r12, ror #8\n"
        "sxtb16 r12, r12\n"
        "smlad r8, r12, r10, r8\n"
        "smlad r8, lr, r11, r8\n"
        "ldrd r10, r11, [%[x]], #8\n"
        "ldr r12, [%[w0]], #4\n"
        "sxtb16 lr, r12, ror #8\n"
        "sxtb16 r12, r12\n"
        "smlad r5, r12, r10, r5\n"
        "smlad r5, lr, r11, r5\n"
        "ldr r12, [%[w1]], #4\n"
        "sxtb16 lr, r12, ror #8\n"
        "sxtb16 r12, r12\n"
        "smlad r6, r12, r10, r6\n"
        "smlad r6, lr, r11, r6\n"
        "ldr r12, [%[w2]], #4\n"
        "sxtb16 lr, r12, ror #8\n"
        "sxtb16 r12, r12\n"
        "smlad r7, r12, r10, r7\n"
        "smlad r7, lr, r11, r7\n"
        "ldr r12, [%[w3]], #4\n"
        "sxtb16 lr, r12, ror #8\n"
        "sxtb16 r12, r12\n"
        "smlad r8, r12, r10, r8\n"
        "smlad r8, lr, r11, r8\n"
        "ldr r12, %[end]\n"
        "cmp %[x], r12\n"
        "bne 1b\n"
        "ldr r12, %[s]\n"
        "stmia r12, {r5, r6, r7, r8}\n"
        : [x] "+r"(rx), [w0] "+r"(r1), [w1] "+r"(r2), [w2] "+r"(r3), [w3] "+r"(r4)
        : [end] "m"(end), [s] "m"(sp)
        : "r5", "r6", "r7", "r8", "r10", "r11", "r12", "lr", "cc", "memory");
}

/* One k-quad of one weight row against the expanded activations (odd quad, tail, leftover rows). */
static inline int32_t mac_row1(const uint32_t *x, uint32_t w, int32_t s) {
    s = __smlad(__sxtb16(w), x[0], s);
    return __smlad(sxtb16_ror8(w), x[1], s);
}

/* Few rows (M <= UL_DSP_SMALL_M, e.g. a dense layer on one sample): each activation row is expanded
   once (a_off added, zero padding) and four weight rows at a time are unpacked where they are used;
   b_off enters as b_off * sum(x + a_off). */
__attribute__((noinline))
static void gemm_dsp_small(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
                           const int8_t *shift, int8_t *out8, int32_t *out32, int32_t m, int32_t n,
                           int32_t k, int32_t a_off, int32_t b_off, int32_t out_off, int32_t act_min,
                           int32_t act_max) {
    uint32_t ax[(UL_DSP_KMAX / 4 + 1) * 2] __attribute__((aligned(8)));
    const uint32_t ao2 = pack16(a_off, a_off), ones = 0x00010001u;
    const int32_t quads = k >> 2, rest = k & 3, pairs = quads >> 1;
    for (int32_t i = 0; i < m; i++) {
        const int8_t *ar = a + (size_t)i * (size_t)k;
        int32_t sx = 0;
        for (int32_t q = 0; q < quads; q++) {
            uint32_t w = ld32(ar + 4 * q);
            ax[2 * q] = __sxtab16(ao2, w);
            ax[2 * q + 1] = sxtab16_ror8(ao2, w);
            sx = __smlad(ax[2 * q], ones, sx);
            sx = __smlad(ax[2 * q + 1], ones, sx);
        }
        if (rest) {   /* zero padding: the weights' tail bytes read as 0 as well */
            const int8_t *t = ar + 4 * quads;
            ax[2 * quads] = pack16(t[0] + a_off, rest > 2 ? t[2] + a_off : 0);
            ax[2 * quads + 1] = pack16(rest > 1 ? t[1] + a_off : 0, 0);
            sx = __smlad(ax[2 * quads], ones, sx);
            sx = __smlad(ax[2 * quads + 1], ones, sx);
        }
        const uint32_t boff = (uint32_t)sx * (uint32_t)b_off;
        int8_t *o8 = out8 ? out8 + (size_t)i * (size_t)n : NULL;
        int32_t *o32 = out32 ? out32 + (size_t)i * (size_t)n : NULL;
        for (int32_t j0 = 0; j0 < n; j0 += UL_COLS) {
            const int32_t nc = n - j0 < UL_COLS ? n - j0 : UL_COLS;
            const int8_t *w = b + (size_t)j0 * (size_t)k;
            int32_t s[UL_COLS] = {0, 0, 0, 0};
            int32_t q0 = 0;
            if (nc == UL_COLS && pairs > 0) {
                mac_rows4(ax, w, k, (uint32_t)pairs, s);
                q0 = 2 * pairs;
            }
            for (int32_t c = 0; c < nc; c++) {
                const int8_t *wc = w + (size_t)c * (size_t)k;
                for (int32_t q = q0; q < quads; q++) {
                    s[c] = mac_row1(ax + 2 * q, ld32(wc + 4 * q), s[c]);
                }
                if (rest) {
                    s[c] = mac_row1(ax + 2 * quads, tail32(wc + 4 * quads, rest), s[c]);
                }
            }
            uint32_t acc[UL_COLS];
            for (int32_t c = 0; c < UL_COLS; c++) {
                acc[c] = (uint32_t)s[c] + boff;
            }
            store_block(acc, nc, j0, bias, mult, shift, o8, o32, out_off, act_min, act_max);
        }
    }
}

__attribute__((noinline))
static void gemm_dsp(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
                     const int8_t *shift, int8_t *out8, int32_t *out32, int32_t m, int32_t n, int32_t k,
                     int32_t a_off, int32_t b_off, int32_t out_off, int32_t act_min, int32_t act_max) {
    /* buf[q][c][2]: for k-quad q and channel c, (b0,b2)+b_off and (b1,b3)+b_off as int16 pairs.
       a_off is added afterwards: sum (a+a_off)(b+b_off) = sum a(b+b_off) + a_off * colsum. */
    uint32_t buf[(UL_DSP_KMAX / 4) * UL_COLS * 2] __attribute__((aligned(8)));
    uint32_t colsum[UL_COLS];
    int32_t sbuf[UL_RB][UL_COLS] __attribute__((aligned(8)));
    const uint32_t bo2 = pack16(b_off, b_off), ones = 0x00010001u;
    const int32_t quads = k >> 2, rest = k & 3;
    const int32_t nq = quads + (rest ? 1 : 0);
    for (int32_t j0 = 0; j0 < n; j0 += UL_COLS) {
        const int32_t nc = n - j0 < UL_COLS ? n - j0 : UL_COLS;
        for (int32_t c = 0; c < UL_COLS; c++) {   /* expand this block of weights */
            uint32_t *e = buf + 2 * c;
            int32_t sum = 0;
            if (c >= nc) {
                for (int32_t q = 0; q < nq; q++) {
                    e[q * 2 * UL_COLS] = 0;
                    e[q * 2 * UL_COLS + 1] = 0;
                }
                colsum[c] = 0;
                continue;
            }
            const int8_t *bj = b + (size_t)(j0 + c) * (size_t)k;
            for (int32_t q = 0; q < quads; q++) {
                uint32_t w = ld32(bj + 4 * q);
                uint32_t e0 = __sxtab16(bo2, w), e1 = sxtab16_ror8(bo2, w);
                e[q * 2 * UL_COLS] = e0;
                e[q * 2 * UL_COLS + 1] = e1;
                sum = __smlad(e0, ones, sum);
                sum = __smlad(e1, ones, sum);
            }
            if (rest) {   /* padding lanes stay 0 so that they add nothing */
                const int8_t *t = bj + 4 * quads;
                uint32_t e0 = pack16(t[0] + b_off, rest > 2 ? t[2] + b_off : 0);
                uint32_t e1 = pack16(rest > 1 ? t[1] + b_off : 0, 0);
                e[quads * 2 * UL_COLS] = e0;
                e[quads * 2 * UL_COLS + 1] = e1;
                sum = __smlad(e0, ones, sum);
                sum = __smlad(e1, ones, sum);
            }
            colsum[c] = (uint32_t)sum * (uint32_t)a_off;
        }
        /* Fast requantization when no channel of the block shifts left (shift <= 0) and
           |bias| < 2^29: then |acc| < 2^30 (K <= 256), so SRDHM is SMMULR(2*acc, mult) and the
           rounding divide by 2^r (r >= 1) is (h + 2^(r-1) + (h < 0 ? -1 : 0)) >> r without overflow. */
        int fast = out8 != NULL;
        uint32_t base2[UL_COLS];
        int32_t mul[UL_COLS], right[UL_COLS], half1[UL_COLS];
        for (int32_t c = 0; c < UL_COLS; c++) {
            int32_t j = j0 + (c < nc ? c : 0);
            int32_t bj = bias ? bias[j] : 0;
            base2[c] = (colsum[c] + (uint32_t)bj) << 1;
            if (out8) {
                fast &= shift[j] <= 0 && bj < (1 << 29) && bj > -(1 << 29);
                mul[c] = mult[j];
                right[c] = -shift[j];
                half1[c] = right[c] >= 1 ? (int32_t)((uint32_t)1 << (right[c] - 1)) : 0;
            }
        }
        const int full = act_min == -128 && act_max == 127;
        for (int32_t i0 = 0; i0 < m; i0 += UL_RB) {
            const int32_t rows = m - i0 < UL_RB ? m - i0 : UL_RB;
            if (rest == 0 && quads > 0) {   /* whole rows of quads: the row loop in assembly */
                mac4_rows(a + (size_t)i0 * (size_t)k, buf, (uint32_t)quads, rows, &sbuf[0][0]);
            }
            for (int32_t r = 0; r < rows && !(rest == 0 && quads > 0); r++) {
                const int8_t *q = a + (size_t)(i0 + r) * (size_t)k;
                const uint32_t *e = buf;
                int32_t *sr = sbuf[r];
                mac4(q, e, (uint32_t)quads, sr);
                q += 4 * quads;
                e += 2 * UL_COLS * quads;
                if (rest) {
                    mac4x4(tail32(q, rest), e, sr);
                }
            }
            if (fast) {
                for (int32_t c = 0; c < nc; c++) {
                    int8_t *o = out8 + (size_t)i0 * (size_t)n + (size_t)(j0 + c);
                    const uint32_t b2 = base2[c];
                    const int32_t mu = mul[c], rt = right[c], h1 = half1[c];
                    const int32_t neg = rt ? -1 : 0;   /* rounding divide only when rt >= 1 */
                    if (full) {
                        for (int32_t r = 0; r < rows; r++) {
                            int32_t h = smmulr((int32_t)(((uint32_t)sbuf[r][c] << 1) + b2), mu);
                            h = (h + h1 + ((h >> 31) & neg)) >> rt;
                            *o = (int8_t)__ssat(__qadd(h, out_off), 8);
                            o += n;
                        }
                        continue;
                    }
                    for (int32_t r = 0; r < rows; r++) {
                        int32_t h = smmulr((int32_t)(((uint32_t)sbuf[r][c] << 1) + b2), mu);
                        h = (h + h1 + ((h >> 31) & neg)) >> rt;
                        h = __ssat(__qadd(h, out_off), 8);
                        h = h < act_min ? act_min : (h > act_max ? act_max : h);
                        *o = (int8_t)h;
                        o += n;
                    }
                }
                continue;
            }
            for (int32_t r = 0; r < rows; r++) {
                uint32_t acc[UL_COLS];
                for (int32_t c = 0; c < UL_COLS; c++) {
                    acc[c] = (uint32_t)sbuf[r][c] + colsum[c];
                }
                size_t row = (size_t)(i0 + r) * (size_t)n;
                store_block(acc, nc, j0, bias, mult, shift, out8 ? out8 + row : NULL, out32 ? out32 + row : NULL,
                            out_off, act_min, act_max);
            }
        }
    }
}
#endif

#if UL_SSE2
/* ---- x86-64 (SSE2, the x86-64 baseline): PMADDWD over pairs of k ----
 * The weights are widened once per call to (b + b_off) int16 and laid out as wt[q][jb][c][l] = weight of
 * channel 4 jb + c at k = 2 q + l (zero past n and k). A row of A widened to (a + a_off) int16 is read as
 * int32 pairs; each pair, broadcast, meets four channels in one PMADDWD: (a0 w0 + a1 w1) for channels
 * 4 jb .. 4 jb + 3. Products are below 2^18 and the int32 lanes wrap exactly like the reference's sums.
 * Convolutions widen straight from the input (im2col fused, padding taps are 0 after the offset). */
#define UL_SSE_WMAX 4096   /* int16 weights widened on the stack (8 KB) */
#define UL_SSE_KMAX 1024   /* longest row widened on the stack (2 KB) */
#define UL_SSE_XMAX 2048   /* int16 activations widened at once (4 KB); stack of a call <= 17 KB */

static inline size_t sse_w_len(int32_t n, int32_t k) {   /* int16 entries of wt */
    return (size_t)((k + 1) / 2) * (size_t)((n + 3) / 4) * 8u;
}

static int sse_fits(int32_t n, int32_t k) {
    return k >= 1 && k <= UL_SSE_KMAX && n >= 1 && sse_w_len(n, k) <= UL_SSE_WMAX;
}

static void sse_widen_w(const int8_t *b, int32_t n, int32_t k, int32_t b_off, int16_t *wt) {
    const int32_t kp = (k + 1) / 2, nb = (n + 3) / 4, half = k / 2;
    const size_t step = (size_t)nb * 8u;   /* int16 from one k-pair to the next */
    for (int32_t j = 0; j < 4 * nb; j++) {   /* channel j: lanes 2 (j % 4) and 2 (j % 4) + 1 of block j / 4 */
        int16_t *e = wt + (size_t)(j / 4) * 8u + 2u * (size_t)(j % 4);
        if (j >= n) {
            for (int32_t q = 0; q < kp; q++, e += step) {
                e[0] = 0;
                e[1] = 0;
            }
            continue;
        }
        const int8_t *src = b + (size_t)j * (size_t)k;
        for (int32_t q = 0; q < half; q++, e += step) {
            e[0] = (int16_t)(src[2 * q] + b_off);
            e[1] = (int16_t)(src[2 * q + 1] + b_off);
        }
        if (k & 1) {   /* the odd k's partner is 0 */
            e[0] = (int16_t)(src[k - 1] + b_off);
            e[1] = 0;
        }
    }
}

/* s[4 g + c] = sum_q pair q of a16 . wt[q][jb0 + g][c] for G = 4, 2 or 1 blocks of 4 channels (named
   accumulators: the compiler keeps them in registers) */
static inline __m128i sse_pair(const int16_t *a16, int32_t q) {
    int32_t pair;
    memcpy(&pair, a16 + 2 * q, 4);
    return _mm_set1_epi32(pair);
}

#define UL_MADD(acc, av, w, g) \
    acc = _mm_add_epi32(acc, _mm_madd_epi16(av, _mm_loadu_si128((const __m128i *)((w) + 8 * (g)))))

static inline void sse_row4(const int16_t *a16, const int16_t *wt, int32_t kp, int32_t nb, int32_t jb0,
                            int32_t *s) {
    __m128i c0 = _mm_setzero_si128(), c1 = c0, c2 = c0, c3 = c0;
    const int16_t *w = wt + (size_t)jb0 * 8u;
    for (int32_t q = 0; q < kp; q++, w += (size_t)nb * 8u) {
        const __m128i av = sse_pair(a16, q);
        UL_MADD(c0, av, w, 0);
        UL_MADD(c1, av, w, 1);
        UL_MADD(c2, av, w, 2);
        UL_MADD(c3, av, w, 3);
    }
    _mm_storeu_si128((__m128i *)s, c0);
    _mm_storeu_si128((__m128i *)(s + 4), c1);
    _mm_storeu_si128((__m128i *)(s + 8), c2);
    _mm_storeu_si128((__m128i *)(s + 12), c3);
}

static inline void sse_row2(const int16_t *a16, const int16_t *wt, int32_t kp, int32_t nb, int32_t jb0,
                            int32_t *s) {
    __m128i c0 = _mm_setzero_si128(), c1 = c0;
    const int16_t *w = wt + (size_t)jb0 * 8u;
    for (int32_t q = 0; q < kp; q++, w += (size_t)nb * 8u) {
        const __m128i av = sse_pair(a16, q);
        UL_MADD(c0, av, w, 0);
        UL_MADD(c1, av, w, 1);
    }
    _mm_storeu_si128((__m128i *)s, c0);
    _mm_storeu_si128((__m128i *)(s + 4), c1);
}

static inline void sse_row1(const int16_t *a16, const int16_t *wt, int32_t kp, int32_t nb, int32_t jb0,
                            int32_t *s) {
    __m128i c0 = _mm_setzero_si128();
    const int16_t *w = wt + (size_t)jb0 * 8u;
    for (int32_t q = 0; q < kp; q++, w += (size_t)nb * 8u) {
        UL_MADD(c0, sse_pair(a16, q), w, 0);
    }
    _mm_storeu_si128((__m128i *)s, c0);
}

/* requantize nc sums of one row (channels j0 ..), or store them as int32: the integers of finish() */
static inline void sse_store(const int32_t *s, int32_t nc, int32_t j0, const int32_t *bias, const int32_t *mult,
                             const int8_t *shift, int8_t *out8, int32_t *out32, int32_t out_off,
                             int32_t act_min, int32_t act_max) {
    for (int32_t c = 0; c < nc; c++) {
        const int32_t j = j0 + c;
        const int32_t acc = (int32_t)((uint32_t)s[c] + (bias ? (uint32_t)bias[j] : 0u));
        if (!out8) {
            out32[j] = acc;
            continue;
        }
        const int32_t sh = shift[j];
        if (sh > 0) {   /* a left shift: the general requantization */
            out8[j] = finish((uint32_t)acc, mult[j], sh, out_off, act_min, act_max);
            continue;
        }
        /* SRDHM as floor((acc mult + 2^30) / 2^31) (mult >= 0), then the rounding divide by 2^r as
           floor((h + 2^(r-1) - (h < 0)) / 2^r) in 64 bits (r >= 1), as requant() */
        int64_t h = ((int64_t)acc * mult[j] + ((int64_t)1 << 30)) >> 31;
        const int32_t r = -sh;
        if (r) {
            h = (h + ((int64_t)1 << (r - 1)) - (h < 0)) >> r;
        }
        h += out_off;
        out8[j] = (int8_t)(h < act_min ? act_min : (h > act_max ? act_max : h));
    }
}

/* Requantization of 4 channels at once (sse_rq4), the integers of requant() for shifts <= 0: two
   unsigned 32 x 32 -> 64-bit multiplies (SRDHM, then the rounding divide as a multiply by 2^(32-r)),
   then saturating packs to int16, + out_off (saturating), clamp, pack to int8: the clamp of the exact
   value, since every saturation is monotone and reaches beyond [-128, 127]. Channels with a left
   shift, and layers of more than UL_SSE_NCH channels, take the scalar sse_store. */
#define UL_SSE_NCH 96     /* channels with per-call requantization tables (else the scalar sse_store) */

typedef struct {
    const int16_t *wt;
    int32_t kp, n, nb;
    const int32_t *bias, *mult;
    const int8_t *shift;
    int32_t out_off, act_min, act_max;
    int tables;   /* the arrays below hold channels 0 .. n-1 (padded with zeros to a multiple of 4) */
    /* per channel j: bias, 2 mult, 2^(32-r) (r = -shift >= 1; 0 for r = 0), -1 where r = 0; the *o
       tables hold lanes 1 and 3 of each group of 4 in lanes 0 and 2 (PMULUDQ's operands) */
    int32_t tb[UL_SSE_NCH], tm2[UL_SSE_NCH], tm2o[UL_SSE_NCH], tmr[UL_SSE_NCH], tmro[UL_SSE_NCH], tr0[UL_SSE_NCH];
    uint8_t vec16[UL_SSE_NCH / 16];   /* 16-channel group: 1 no left shift (sse_rq4), 2 also no r = 0 */
    __m128i off, lo, hi;
} sse_ctx_t;

static void sse_ctx_init(sse_ctx_t *t, const int16_t *wt, int32_t n, int32_t k, const int32_t *bias,
                         const int32_t *mult, const int8_t *shift, int32_t out_off, int32_t act_min,
                         int32_t act_max) {
    t->wt = wt;
    t->kp = (k + 1) / 2;
    t->n = n;
    t->nb = (n + 3) / 4;
    t->bias = bias;
    t->mult = mult;
    t->shift = shift;
    t->out_off = out_off;
    t->act_min = act_min;
    t->act_max = act_max;
    t->tables = shift != NULL && n <= UL_SSE_NCH;
    if (!t->tables) {
        return;
    }
    for (int32_t j = 0; j < 4 * t->nb; j++) {
        const int32_t r = j < n && shift[j] <= 0 ? -shift[j] : 0;
        t->tb[j] = j < n && bias ? bias[j] : 0;
        t->tm2[j] = j < n ? (int32_t)(2u * (uint32_t)mult[j]) : 0;           /* < 2^32, read unsigned */
        t->tmr[j] = r >= 1 ? (int32_t)((uint32_t)1 << (32 - r)) : 0;   /* r = 1: 2^31, read unsigned */
        t->tr0[j] = r == 0 ? -1 : 0;
    }
    for (int32_t j = 0; j < 4 * t->nb; j += 4) {
        t->tm2o[j] = t->tm2[j + 1];
        t->tm2o[j + 2] = t->tm2[j + 3];
        t->tmro[j] = t->tmr[j + 1];
        t->tmro[j + 2] = t->tmr[j + 3];
        t->tm2o[j + 1] = t->tm2o[j + 3] = t->tmro[j + 1] = t->tmro[j + 3] = 0;
    }
    for (int32_t g = 0; 16 * g < n; g++) {
        int ok = 1, r0 = 0;
        for (int32_t j = 16 * g; j < n && j < 16 * g + 16; j++) {
            ok &= shift[j] <= 0;
            r0 |= shift[j] == 0;
        }
        t->vec16[g] = (uint8_t)(ok ? (r0 ? 1 : 2) : 0);
    }
    t->off = _mm_set1_epi16((int16_t)out_off);
    t->lo = _mm_set1_epi16((int16_t)act_min);
    t->hi = _mm_set1_epi16((int16_t)act_max);
}

/* the high dwords of the four unsigned 32 x 32 -> 64-bit products x[i] * m[i] + 2^31, as [p0, p1, p2, p3];
   mo holds m[1] and m[3] in lanes 0 and 2 */
static inline __m128i sse_mulhi4(__m128i x, __m128i m, __m128i mo) {
    const __m128i half = _mm_set1_epi64x((int64_t)1 << 31), high = _mm_set1_epi64x((int64_t)0xFFFFFFFF00000000ull);
    const __m128i pe = _mm_add_epi64(_mm_mul_epu32(x, m), half);
    const __m128i po = _mm_add_epi64(_mm_mul_epu32(_mm_srli_epi64(x, 32), mo), half);
    return _mm_or_si128(_mm_srli_epi64(pe, 32), _mm_and_si128(po, high));
}

/* 4 int32 sums (bias not yet added) of channels j .. j+3 -> the 4 requantized int32 (before out_off).
   The operands are read as unsigned; a negative x adds 2^32 m to x m, i.e. m to the high dword.
     h  = SRDHM(acc, mult) = high dword of acc * 2 mult + 2^31
     hm = h - (h < 0)
     r >= 1: floor((hm + 2^(r-1)) / 2^r) = high dword of hm * 2^(32-r) + 2^31     (RoundingDivideByPOT)
     r == 0: h                                                (only when `zero`: a lane may have r = 0) */
static inline __m128i sse_rq4(const sse_ctx_t *t, __m128i s, int32_t j, int zero) {
    const __m128i acc = _mm_add_epi32(s, _mm_loadu_si128((const __m128i *)(t->tb + j)));
    const __m128i m2 = _mm_loadu_si128((const __m128i *)(t->tm2 + j));
    const __m128i mr = _mm_loadu_si128((const __m128i *)(t->tmr + j));
    __m128i h = sse_mulhi4(acc, m2, _mm_loadu_si128((const __m128i *)(t->tm2o + j)));
    h = _mm_sub_epi32(h, _mm_and_si128(_mm_srai_epi32(acc, 31), m2));
    const __m128i hm = _mm_add_epi32(h, _mm_srai_epi32(h, 31));
    __m128i d = sse_mulhi4(hm, mr, _mm_loadu_si128((const __m128i *)(t->tmro + j)));
    d = _mm_sub_epi32(d, _mm_and_si128(_mm_srai_epi32(hm, 31), mr));
    if (!zero) {
        return d;
    }
    const __m128i r0 = _mm_loadu_si128((const __m128i *)(t->tr0 + j));
    return _mm_or_si128(_mm_and_si128(r0, h), _mm_andnot_si128(r0, d));
}

static inline __m128i sse_out16(const sse_ctx_t *t, __m128i a, __m128i b) {   /* 8 outputs as int16 */
    __m128i v = _mm_adds_epi16(_mm_packs_epi32(a, b), t->off);
    return _mm_min_epi16(_mm_max_epi16(v, t->lo), t->hi);
}

/* nc (1..16) requantized outputs of channels j0 .. from the sums s (zero past nc up to a multiple of 4) */
static inline __attribute__((always_inline)) void sse_requant16(const sse_ctx_t *t, const int32_t *s, int32_t j0,
                                                                 int32_t nc, int8_t *o, const int zero) {
    const __m128i r0 = sse_rq4(t, _mm_load_si128((const __m128i *)s), j0, zero);
    const __m128i r1 = nc > 4 ? sse_rq4(t, _mm_load_si128((const __m128i *)(s + 4)), j0 + 4, zero) : r0;
    const __m128i r2 = nc > 8 ? sse_rq4(t, _mm_load_si128((const __m128i *)(s + 8)), j0 + 8, zero) : r0;
    const __m128i r3 = nc > 12 ? sse_rq4(t, _mm_load_si128((const __m128i *)(s + 12)), j0 + 12, zero) : r0;
    const __m128i bytes = _mm_packs_epi16(sse_out16(t, r0, r1), sse_out16(t, r2, r3));
    if (nc == 16) {
        _mm_storeu_si128((__m128i *)o, bytes);
    } else if (nc == 8) {
        _mm_storel_epi64((__m128i *)o, bytes);
    } else {
        int8_t tmp[16] __attribute__((aligned(16)));
        _mm_store_si128((__m128i *)tmp, bytes);
        for (int32_t c = 0; c < nc; c++) {
            o[c] = tmp[c];
        }
    }
}

/* one widened row (kp int32 pairs at a16) against every channel, stored to o8 (or o32) */
static inline void sse_row_all(const sse_ctx_t *t, const int16_t *a16, int8_t *o8, int32_t *o32) {
    const int32_t nb = t->nb, kp = t->kp;
    int32_t s[16] __attribute__((aligned(16)));
    for (int32_t jb = 0; jb < nb; jb += 4) {
        const int32_t g = nb - jb < 4 ? nb - jb : 4;
        switch (g) {
            case 4: sse_row4(a16, t->wt, kp, nb, jb, s); break;
            case 3: sse_row2(a16, t->wt, kp, nb, jb, s); sse_row1(a16, t->wt, kp, nb, jb + 2, s + 8); break;
            case 2: sse_row2(a16, t->wt, kp, nb, jb, s); break;
            default: sse_row1(a16, t->wt, kp, nb, jb, s); break;
        }
        const int32_t j0 = 4 * jb, nc = t->n - j0 < 16 ? t->n - j0 : 16;
        if (o8 && t->tables && t->vec16[jb / 4] == 2) {   /* every lane shifts right */
            sse_requant16(t, s, j0, nc, o8 + j0, 0);
        } else if (o8 && t->tables && t->vec16[jb / 4]) {
            sse_requant16(t, s, j0, nc, o8 + j0, 1);
        } else {
            sse_store(s, nc, j0, t->bias, t->mult, t->shift, o8, o32, t->out_off, t->act_min, t->act_max);
        }
    }
}

static void gemm_sse2(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
                      const int8_t *shift, int8_t *out8, int32_t *out32, int32_t m, int32_t n, int32_t k,
                      int32_t a_off, int32_t b_off, int32_t out_off, int32_t act_min, int32_t act_max) {
    int16_t wt[UL_SSE_WMAX] __attribute__((aligned(16)));
    /* blocks of rows widened at once (stride k rounded up to even, the odd k's partner 0: its weights
       are 0), well before they are read in pairs */
    int16_t a16[UL_SSE_XMAX] __attribute__((aligned(16)));
    const int32_t kk = (k + 1) & ~1, rows = UL_SSE_XMAX / kk;
    sse_ctx_t t;
    sse_widen_w(b, n, k, b_off, wt);
    sse_ctx_init(&t, wt, n, k, bias, mult, out8 ? shift : NULL, out_off, act_min, act_max);
    for (int32_t i0 = 0; i0 < m; i0 += rows) {
        const int32_t nr = m - i0 < rows ? m - i0 : rows;
        for (int32_t r = 0; r < nr; r++) {
            const int8_t *ar = a + (size_t)(i0 + r) * (size_t)k;
            int16_t *p = a16 + (size_t)r * (size_t)kk;
            for (int32_t i = 0; i < k; i++) {
                p[i] = (int16_t)(ar[i] + a_off);
            }
            p[kk - 1] = k & 1 ? 0 : p[kk - 1];
        }
        for (int32_t r = 0; r < nr; r++) {
            const size_t row = (size_t)(i0 + r) * (size_t)n;
            sse_row_all(&t, a16 + (size_t)r * (size_t)kk, out8 ? out8 + row : NULL, out32 ? out32 + row : NULL);
        }
    }
}

/* One row (m = 1, a dense layer on one sample): the row is widened once, then 4 channels at a time read
   16 weights per step, sign-extend them to int16 (+ b_off) and PMADDWD them with the row; the four
   accumulators are summed across lanes at the end (int32 lanes wrap like the reference's sums). */
static void gemv_sse2(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
                      const int8_t *shift, int8_t *out8, int32_t *out32, int32_t n, int32_t k, int32_t a_off,
                      int32_t b_off, int32_t out_off, int32_t act_min, int32_t act_max) {
    int16_t a16[UL_SSE_XMAX] __attribute__((aligned(16)));
    const int32_t k16 = k & ~15;
    const __m128i bo = _mm_set1_epi16((int16_t)b_off);
    for (int32_t t = 0; t < k; t++) {
        a16[t] = (int16_t)(a[t] + a_off);
    }
    for (int32_t j0 = 0; j0 < n; j0 += 4) {
        const int32_t nc = n - j0 < 4 ? n - j0 : 4;
        const int8_t *r[4];
        for (int32_t c = 0; c < 4; c++) {   /* missing channels repeat the first (their sums are dropped) */
            r[c] = b + (size_t)(j0 + (c < nc ? c : 0)) * (size_t)k;
        }
        __m128i c0 = _mm_setzero_si128(), c1 = c0, c2 = c0, c3 = c0;
        const int8_t *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
#define UL_GEMV_(acc, row, OFF)                                                                            \
    do {                                                                                                   \
        const __m128i w = _mm_loadu_si128((const __m128i *)((row) + t));                                   \
        const __m128i lo = OFF(_mm_srai_epi16(_mm_unpacklo_epi8(w, w), 8));                                \
        const __m128i hi = OFF(_mm_srai_epi16(_mm_unpackhi_epi8(w, w), 8));                                \
        acc = _mm_add_epi32(acc, _mm_add_epi32(_mm_madd_epi16(lo, x0), _mm_madd_epi16(hi, x1)));           \
    } while (0)
#define UL_BOFF_(v) _mm_add_epi16(v, bo)
#define UL_NOOFF_(v) (v)
#define UL_GEMV_LOOP_(OFF)                                                                                 \
        for (int32_t t = 0; t < k16; t += 16) {                                                            \
            const __m128i x0 = _mm_load_si128((const __m128i *)(a16 + t));                                 \
            const __m128i x1 = _mm_load_si128((const __m128i *)(a16 + t + 8));                             \
            UL_GEMV_(c0, r0, OFF);                                                                         \
            UL_GEMV_(c1, r1, OFF);                                                                         \
            UL_GEMV_(c2, r2, OFF);                                                                         \
            UL_GEMV_(c3, r3, OFF);                                                                         \
        }
        if (b_off) {   /* asymmetric weights */
            UL_GEMV_LOOP_(UL_BOFF_)
        } else {
            UL_GEMV_LOOP_(UL_NOOFF_)
        }
#undef UL_GEMV_LOOP_
#undef UL_NOOFF_
#undef UL_BOFF_
#undef UL_GEMV_
        /* lane sums of the four accumulators: [sum c0, sum c1, sum c2, sum c3] */
        const __m128i u0 = _mm_add_epi32(_mm_unpacklo_epi32(c0, c1), _mm_unpackhi_epi32(c0, c1));
        const __m128i u1 = _mm_add_epi32(_mm_unpacklo_epi32(c2, c3), _mm_unpackhi_epi32(c2, c3));
        int32_t sums[4] __attribute__((aligned(16)));
        _mm_store_si128((__m128i *)sums, _mm_add_epi32(_mm_unpacklo_epi64(u0, u1), _mm_unpackhi_epi64(u0, u1)));
        for (int32_t c = 0; c < nc; c++) {   /* the last k % 16 products */
            uint32_t v = (uint32_t)sums[c];
            for (int32_t t = k16; t < k; t++) {
                v += (uint32_t)(a16[t] * (r[c][t] + b_off));
            }
            sums[c] = (int32_t)v;
        }
        sse_store(sums, nc, j0, bias, mult, shift, out8, out32, out_off, act_min, act_max);
    }
}

/* whole conv layer: the input is widened once (x + in_off, int16); an output pixel whose window is one
   run of the input (a single kernel row, inside, no dilation: every conv1d) is read in place, other
   windows are gathered into a16 (taps outside the input are 0 = pad value + in_off) */
static void conv_sse2(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *mult,
                      const int8_t *shift, int8_t *out, int32_t in_h, int32_t in_w, int32_t in_c, int32_t out_c,
                      int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w,
                      int32_t pad_top, int32_t pad_left, int32_t out_h, int32_t out_w, int32_t in_off,
                      int32_t out_off, int32_t act_min, int32_t act_max) {
    int16_t wt[UL_SSE_WMAX] __attribute__((aligned(16)));
    int16_t a16[UL_SSE_KMAX + 2] __attribute__((aligned(16)));
    int16_t x16[UL_SSE_XMAX + 1] __attribute__((aligned(16)));
    const int32_t k = k_h * k_w * in_c, kwc = k_w * in_c;
    const int64_t nx = (int64_t)in_h * in_w * in_c;
    const int wide = nx <= UL_SSE_XMAX;
    sse_ctx_t t;
    sse_widen_w(w, out_c, k, 0, wt);
    sse_ctx_init(&t, wt, out_c, k, bias, mult, shift, out_off, act_min, act_max);
    const int16_t off = (int16_t)in_off;
    if (wide) {
        for (int32_t i = 0; i < (int32_t)nx; i++) {
            x16[i] = (int16_t)(x[i] + off);
        }
        x16[nx] = 0;   /* the odd k's partner of the last window (its weights are 0) */
    }
    a16[k] = 0;
    int8_t *o = out;
    for (int32_t oy = 0; oy < out_h; oy++) {
        const int32_t iy0 = oy * stride_h - pad_top;
        for (int32_t ox = 0; ox < out_w; ox++, o += out_c) {
            const int32_t ix0 = ox * stride_w - pad_left;
            if (wide && k_h == 1 && dil_w == 1 && iy0 >= 0 && iy0 < in_h && ix0 >= 0 && ix0 + k_w <= in_w) {
                sse_row_all(&t, x16 + ((size_t)iy0 * (size_t)in_w + (size_t)ix0) * (size_t)in_c, o, NULL);
                continue;
            }
            int16_t *p = a16;
            for (int32_t ky = 0; ky < k_h; ky++, p += kwc) {
                const int32_t iy = iy0 + ky * dil_h;
                if (iy < 0 || iy >= in_h) {
                    for (int32_t i = 0; i < kwc; i++) {
                        p[i] = 0;
                    }
                    continue;
                }
                const size_t row = (size_t)iy * (size_t)in_w;
                if (dil_w == 1 && ix0 >= 0 && ix0 + k_w <= in_w) {   /* the whole kernel row is inside */
                    const size_t at = (row + (size_t)ix0) * (size_t)in_c;
                    for (int32_t i = 0; i < kwc; i++) {
                        p[i] = wide ? x16[at + (size_t)i] : (int16_t)(x[at + (size_t)i] + off);
                    }
                    continue;
                }
                for (int32_t kx = 0, ix = ix0; kx < k_w; kx++, ix += dil_w) {
                    int16_t *pk = p + kx * in_c;
                    const int inside = ix >= 0 && ix < in_w;
                    const size_t at = inside ? (row + (size_t)ix) * (size_t)in_c : 0;
                    for (int32_t i = 0; i < in_c; i++) {
                        pk[i] = (int16_t)(inside ? x[at + (size_t)i] + off : 0);
                    }
                }
            }
            sse_row_all(&t, a16, o, NULL);
        }
    }
}
#endif

static void gemm_any(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
                     const int8_t *shift, int8_t *out8, int32_t *out32, int32_t m, int32_t n, int32_t k,
                     int32_t a_off, int32_t b_off, int32_t out_off, int32_t act_min, int32_t act_max) {
#if UL_DSP
    if (k <= UL_DSP_KMAX && m <= UL_DSP_SMALL_M) {
        gemm_dsp_small(a, b, bias, mult, shift, out8, out32, m, n, k, a_off, b_off, out_off, act_min, act_max);
        return;
    }
    if (k <= UL_DSP_KMAX) {
        gemm_dsp(a, b, bias, mult, shift, out8, out32, m, n, k, a_off, b_off, out_off, act_min, act_max);
        return;
    }
#endif
#if UL_SSE2
    if (m == 1 && k <= UL_SSE_XMAX) {
        gemv_sse2(a, b, bias, mult, shift, out8, out32, n, k, a_off, b_off, out_off, act_min, act_max);
        return;
    }
    if (m > 1 && sse_fits(n, k)) {
        gemm_sse2(a, b, bias, mult, shift, out8, out32, m, n, k, a_off, b_off, out_off, act_min, act_max);
        return;
    }
#endif
    gemm_portable(a, b, bias, mult, shift, out8, out32, m, n, k, a_off, b_off, out_off, act_min, act_max);
}

int ul_gemm_s8(const int8_t *a, const int8_t *b, const int32_t *bias, const int32_t *mult,
               const int8_t *shift, int8_t *out, int32_t m, int32_t n, int32_t k,
               int32_t a_off, int32_t b_off, int32_t out_off, int32_t act_min, int32_t act_max) {
    int st = check_gemm(a, b, out, m, n, k, a_off, b_off);
    if (st == UL_OK) {
        st = check_requant(mult, shift, n, out_off, act_min, act_max);
    }
    if (st != UL_OK) {
        return st;
    }
    if (m && n) {
        gemm_any(a, b, bias, mult, shift, out, NULL, m, n, k, a_off, b_off, out_off, act_min, act_max);
    }
    return UL_OK;
}

int ul_gemm_s32(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t *out,
                int32_t m, int32_t n, int32_t k, int32_t a_off, int32_t b_off) {
    int st = check_gemm(a, b, out, m, n, k, a_off, b_off);
    if (st != UL_OK) {
        return st;
    }
    if (m && n) {
        gemm_any(a, b, bias, NULL, NULL, NULL, out, m, n, k, a_off, b_off, 0, 0, 0);
    }
    return UL_OK;
}

/* ---- im2col and the conv layer ---- */

static int check_geometry(int32_t in_h, int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w,
                          int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w,
                          int32_t out_h, int32_t out_w) {
    if (in_h < 0 || in_w < 0 || in_c < 0 || out_h < 0 || out_w < 0 || k_h < 1 || k_w < 1 ||
        stride_h < 1 || stride_w < 1 || dil_h < 1 || dil_w < 1) {
        return UL_E_DIM;
    }
    return UL_OK;
}

/* Small copies and fills inline: a native module's memcpy/memset go through the interpreter's table. */
static inline void copy_s8(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t t = 0;
    for (; t + 4 <= n; t += 4) {
        uint32_t w;
        memcpy(&w, src + t, 4);
        memcpy(dst + t, &w, 4);
    }
    for (; t < n; t++) {
        dst[t] = src[t];
    }
}

static inline void fill_s8(int8_t *dst, int8_t v, int32_t n) {
    uint32_t w = (uint8_t)v * 0x01010101u;
    int32_t t = 0;
    for (; t + 4 <= n; t += 4) {
        memcpy(dst + t, &w, 4);
    }
    for (; t < n; t++) {
        dst[t] = v;
    }
}

static void im2col_rows(const int8_t *x, int8_t *col, int32_t in_h, int32_t in_w, int32_t in_c,
                        int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                        int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t out_w, int32_t row0,
                        int32_t rows, int32_t pad_value) {
    int8_t *p = col;
    const int8_t pad = (int8_t)pad_value;
    int32_t oy = row0 / out_w, ox = row0 - oy * out_w;
    for (int32_t r = 0; r < rows; r++) {
        int32_t iy0 = oy * stride_h - pad_top, ix0 = ox * stride_w - pad_left;
        for (int32_t ky = 0; ky < k_h; ky++) {
            int32_t iy = iy0 + ky * dil_h;
            if (iy < 0 || iy >= in_h) {
                fill_s8(p, pad, k_w * in_c);
                p += (size_t)k_w * (size_t)in_c;
                continue;
            }
            const int8_t *xrow = x + (size_t)iy * (size_t)in_w * (size_t)in_c;
            int32_t ix = ix0;
            if (dil_w == 1 && ix0 >= 0 && ix0 + k_w <= in_w) {   /* the whole kernel row is inside */
                copy_s8(p, xrow + (size_t)ix0 * (size_t)in_c, k_w * in_c);
                p += (size_t)k_w * (size_t)in_c;
                continue;
            }
            for (int32_t kx = 0; kx < k_w; kx++, ix += dil_w) {
                if (ix < 0 || ix >= in_w) {
                    fill_s8(p, pad, in_c);
                } else {
                    copy_s8(p, xrow + (size_t)ix * (size_t)in_c, in_c);
                }
                p += in_c;
            }
        }
        if (++ox == out_w) {
            ox = 0;
            oy++;
        }
    }
}

int ul_im2col_s8(const int8_t *x, int8_t *col, int32_t in_h, int32_t in_w, int32_t in_c,
                 int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                 int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t out_h, int32_t out_w,
                 int32_t row0, int32_t rows, int32_t pad_value) {
    int st = check_geometry(in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, out_h, out_w);
    if (st != UL_OK) {
        return st;
    }
    if (row0 < 0 || rows < 0 || (int64_t)row0 + rows > (int64_t)out_h * out_w) {
        return UL_E_DIM;
    }
    if (pad_value < -128 || pad_value > 127) {
        return UL_E_PAD;
    }
    if (rows && in_c && (!col || (!x && in_h && in_w))) {
        return UL_E_NULL;
    }
    if (rows && in_c) {
        im2col_rows(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top,
                    pad_left, out_w, row0, rows, pad_value);
    }
    return UL_OK;
}

size_t ul_conv_col_size(int32_t in_c, int32_t k_h, int32_t k_w, int32_t out_h, int32_t out_w) {
    int64_t rows = (int64_t)out_h * out_w;
    if (rows > UL_CONV_ROWS) {
        rows = UL_CONV_ROWS;
    }
    if (rows < 1) {
        rows = 1;
    }
    if (in_c < 0 || k_h < 0 || k_w < 0) {
        return 0;
    }
    return (size_t)((rows * k_h * k_w * in_c + 3) & ~(int64_t)3);
}

int ul_conv_s8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *mult,
               const int8_t *shift, int8_t *out, int8_t *col, size_t col_size,
               int32_t in_h, int32_t in_w, int32_t in_c, int32_t out_c, int32_t k_h, int32_t k_w,
               int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w,
               int32_t pad_top, int32_t pad_left, int32_t out_h, int32_t out_w,
               int32_t in_off, int32_t out_off, int32_t act_min, int32_t act_max) {
    int st = check_geometry(in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, out_h, out_w);
    if (st != UL_OK) {
        return st;
    }
    if (out_c < 0) {
        return UL_E_DIM;
    }
    if (in_off < -127 || in_off > 128) {
        return UL_E_AOFF;
    }
    st = check_requant(mult, shift, out_c, out_off, act_min, act_max);
    if (st != UL_OK) {
        return st;
    }
    const int64_t row64 = (int64_t)k_h * k_w * in_c;
    const int32_t rows = out_h * out_w;
    if (row64 > INT32_MAX) {
        return UL_E_DIM;
    }
    const int32_t row = (int32_t)row64;
    if (rows == 0 || out_c == 0) {
        return UL_OK;
    }
    if (!x || !w || !out || (row && !col)) {
        return UL_E_NULL;
    }
    if (row && col_size < (size_t)row) {
        return UL_E_SCRATCH;
    }
#if UL_SSE2
    if (row && sse_fits(out_c, row) && (int64_t)(out_h - 1) * stride_h + (int64_t)(k_h - 1) * dil_h < INT32_MAX &&
        (int64_t)(out_w - 1) * stride_w + (int64_t)(k_w - 1) * dil_w < INT32_MAX) {
        conv_sse2(x, w, bias, mult, shift, out, in_h, in_w, in_c, out_c, k_h, k_w, stride_h, stride_w, dil_h,
                  dil_w, pad_top, pad_left, out_h, out_w, in_off, out_off, act_min, act_max);
        return UL_OK;
    }
#endif
    int32_t block = row ? (int32_t)(col_size / (size_t)row < (size_t)rows ? col_size / (size_t)row : (size_t)rows)
                        : rows;
    for (int32_t r0 = 0; r0 < rows; r0 += block) {
        int32_t nb = rows - r0 < block ? rows - r0 : block;
        if (row) {
            im2col_rows(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top,
                        pad_left, out_w, r0, nb, -in_off);
        }
        gemm_any(col, w, bias, mult, shift, out + (size_t)r0 * (size_t)out_c, NULL, nb, out_c, row,
                 in_off, 0, out_off, act_min, act_max);
    }
    return UL_OK;
}

/* ---- Q15 ---- */

static int64_t dot16(const int16_t *a, const int16_t *b, int32_t n) {
    int64_t s = 0;
    int32_t i = 0;
#if UL_DSP
    for (; i + 4 <= n; i += 4) {
        uint32_t a0, a1, b0, b1;
        memcpy(&a0, a + i, 4);
        memcpy(&a1, a + i + 2, 4);
        memcpy(&b0, b + i, 4);
        memcpy(&b1, b + i + 2, 4);
        s = (int64_t)__smlald(a0, b0, (uint64_t)s);
        s = (int64_t)__smlald(a1, b1, (uint64_t)s);
    }
#endif
    for (; i < n; i++) {
        s += (int32_t)a[i] * b[i];
    }
    return s;
}

int ul_dot_q15(const int16_t *a, const int16_t *b, int32_t n, int64_t *result) {
    if (n < 0) {
        return UL_E_DIM;
    }
    if (!result || (n && (!a || !b))) {
        return UL_E_NULL;
    }
    *result = dot16(a, b, n);
    return UL_OK;
}

int ul_matvec_q15(const int16_t *w, const int16_t *x, const int32_t *bias, int32_t *out,
                  int32_t rows, int32_t cols, int32_t shift) {
    if (rows < 0 || cols < 0) {
        return UL_E_DIM;
    }
    if (shift < 0 || shift > 31) {
        return UL_E_SHIFT;
    }
    if ((rows && !out) || (rows && cols && (!w || !x))) {
        return UL_E_NULL;
    }
    const int64_t rnd = shift > 0 ? (int64_t)1 << (shift - 1) : 0;
    for (int32_t r = 0; r < rows; r++) {
        int64_t s = dot16(w + (size_t)r * (size_t)cols, x, cols) + (bias ? bias[r] : 0) + rnd;
        s >>= shift;
        out[r] = s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
    }
    return UL_OK;
}

/* ---- prepared weights: arranged once, used by every call ----
 *
 * Buffer (4-byte aligned, ul_gemm_prep_size bytes):
 *   header  int32[8]: magic, n, k, b_off, max |b + b_off|, max |bias|, 0, 0
 *   int32[4 nb]: bias (0 without bias and for the padding channels); nb = ceil(n / 4) blocks
 *   per block of 4 channels:
 *     int32[4]: 2 * bias (wrapped; only used when every sum is below 2^30 in magnitude)
 *     per k-quad q (k rounded up to 4; missing k and channels are 0), per channel c: int16[4] =
 *       2 * (b + b_off) of k = 4q, 4q+2, 4q+1, 4q+3
 *     (two little-endian int16 pairs: what SXTB16 / SXTB16 ROR 8 make of an activation word, so that
 *     SMLAD multiplies matching lanes; doubled so that the sums come out as 2 * acc, the operand of
 *     SMMULR in the requantization).
 * The layout is the same on every target; only the GEMM that reads it differs. */
#define UL_PREP_MAGIC 0x32574C55   /* "ULW2" */
#define UL_PREP_HEAD 8             /* int32 words */
#define UL_PREP_NCH 64             /* channels per pass (stack: sums, parameters) */
#define UL_PREP_QMAX 64            /* k-quads of the unrolled DSP loop (K <= 256) */

size_t ul_gemm_prep_size(int32_t n, int32_t k) {
    if (n < 0 || k < 0 || n > (1 << 20) || k > (1 << 20)) {
        return 0;
    }
    size_t nb = ((size_t)n + 3u) / 4u, kq = ((size_t)k + 3u) / 4u;
    return 4u * UL_PREP_HEAD + nb * (32u + kq * 32u);
}

static inline size_t prep_block_words(int32_t k) {   /* uint32 words per block of 4 channels */
    return 4u + (((size_t)k + 3u) / 4u) * 8u;
}

static inline const int32_t *prep_blocks(const int32_t *wp, int32_t n) {
    return wp + UL_PREP_HEAD + 4 * ((n + 3) / 4);
}

int ul_gemm_prepare(const int8_t *b, const int32_t *bias, int32_t n, int32_t k, int32_t b_off, void *buf,
                    size_t buf_size) {
    if (n < 0 || k < 0 || n > (1 << 20) || k > (1 << 20)) {
        return UL_E_DIM;
    }
    if (b_off < -UL_OFF_LIMIT || b_off > UL_OFF_LIMIT) {
        return UL_E_BOFF;
    }
    if (!buf || (n && k && !b)) {
        return UL_E_NULL;
    }
    if (((uintptr_t)buf & 3u) || buf_size < ul_gemm_prep_size(n, k)) {
        return UL_E_PREP;
    }
    static const uint8_t lane[4] = {0, 2, 1, 3};
    int32_t *head = (int32_t *)buf;
    int32_t *blocks = (int32_t *)prep_blocks(head, n);
    const int32_t kq = (k + 3) / 4;
    int32_t wmax = 0, bmax = 0;
    for (int32_t j0 = 0; j0 < n; j0 += 4) {
        int32_t *blk = blocks + (size_t)(j0 / 4) * prep_block_words(k);
        int16_t *w16 = (int16_t *)(blk + 4);
        for (int32_t c = 0; c < 4; c++) {
            const int32_t j = j0 + c;
            const int32_t bj = (j < n && bias) ? bias[j] : 0;
            head[UL_PREP_HEAD + j] = bj;
            blk[c] = (int32_t)((uint32_t)bj << 1);
            const int32_t mag = bj < 0 ? (bj == INT32_MIN ? INT32_MAX : -bj) : bj;
            bmax = mag > bmax ? mag : bmax;
            for (int32_t q = 0; q < kq; q++) {
                int16_t *e = w16 + ((size_t)q * 4u + (size_t)c) * 4u;
                for (int32_t l = 0; l < 4; l++) {
                    const int32_t t = 4 * q + lane[l];
                    const int32_t v = (j < n && t < k) ? b[(size_t)j * (size_t)k + (size_t)t] + b_off : 0;
                    e[l] = (int16_t)(2 * v);
                    const int32_t av = v < 0 ? -v : v;
                    wmax = av > wmax ? av : wmax;
                }
            }
        }
    }
    head[0] = UL_PREP_MAGIC;
    head[1] = n;
    head[2] = k;
    head[3] = b_off;
    head[4] = wmax;
    head[5] = bmax;
    head[6] = 0;
    head[7] = 0;
    return UL_OK;
}

/* exact sums of one row against blocks blk0 .. blk0+nb-1 on any target: s[4 nb] = acc (bias included).
   Weights are stored doubled: each k-quad's partial sum (|.| < 2^22, even) is halved exactly. */
static void prep_row_c(const int8_t *ar, const int32_t *wp, int32_t n, int32_t k, int32_t a_off, int32_t blk0,
                       int32_t nb, int32_t *s) {
    /* (the partial sums are even: >> 1, an arithmetic shift with gcc/clang, halves them exactly) */
    const int32_t quads = k >> 2, rest = k & 3;
    const size_t bw = prep_block_words(k);
    int32_t tail[4] = {0, 0, 0, 0};
    for (int32_t l = 0; l < rest; l++) {
        tail[l] = ar[4 * quads + l] + a_off;
    }
    for (int32_t bi = 0; bi < nb; bi++) {
        const int32_t *blk = prep_blocks(wp, n) + (size_t)(blk0 + bi) * bw;
        const int16_t *e = (const int16_t *)(blk + 4);
        const int32_t *bias = wp + UL_PREP_HEAD + 4 * (blk0 + bi);
        uint32_t acc[4] = {(uint32_t)bias[0], (uint32_t)bias[1], (uint32_t)bias[2], (uint32_t)bias[3]};
        const int8_t *p = ar;
        for (int32_t q = 0; q < quads; q++, p += 4, e += 16) {
            const int32_t x0 = p[0] + a_off, x1 = p[1] + a_off, x2 = p[2] + a_off, x3 = p[3] + a_off;
            for (int32_t c = 0; c < 4; c++) {
                const int16_t *ec = e + 4 * c;
                acc[c] += (uint32_t)((x0 * ec[0] + x2 * ec[1] + x1 * ec[2] + x3 * ec[3]) >> 1);
            }
        }
        if (rest) {
            for (int32_t c = 0; c < 4; c++) {
                const int16_t *ec = e + 4 * c;
                acc[c] += (uint32_t)((tail[0] * ec[0] + tail[2] * ec[1] + tail[1] * ec[2] + tail[3] * ec[3]) >> 1);
            }
        }
        for (int32_t c = 0; c < 4; c++) {
            s[4 * bi + c] = (int32_t)acc[c];
        }
    }
}

#if UL_DSP
/* ul_prep_row(x, w, skip, s, s_end): for each block of 4 channels (w runs through the blocks): the
   sums start at the block's 2 * bias, then `quads` k-quads of x (expanded activations, 2 words per
   quad) times the block's weights; stored to s[0..3], s += 4, until s == s_end. The k-quads are
   unrolled (UL_PREP_QMAX of them, 44 bytes each) and entered at end - skip (skip = 44 * quads): no
   loop counter, 11 instructions per 16 MACs.
   Registers: r0 x, r1 w, r2-r3 activations, r4-r7 sums, r8 r10-r12 weights, lr s; r9 untouched. */
void ul_prep_row(const uint32_t *x, const uint32_t *w, uint32_t skip, int32_t *s, int32_t *s_end);
#define UL_Q_ \
    "ldmia.w r0!, {r2, r3}\n" \
    "ldmia.w r1!, {r8, r10, r11, r12}\n" \
    "smlad r4, r2, r8, r4\n" \
    "smlad r4, r3, r10, r4\n" \
    "smlad r5, r2, r11, r5\n" \
    "smlad r5, r3, r12, r5\n" \
    "ldmia.w r1!, {r8, r10, r11, r12}\n" \
    "smlad r6, r2, r8, r6\n" \
    "smlad r6, r3, r10, r6\n" \
    "smlad r7, r2, r11, r7\n" \
    "smlad r7, r3, r12, r7\n"
#define UL_Q4_ UL_Q_ UL_Q_ UL_Q_ UL_Q_
#define UL_Q16_ UL_Q4_ UL_Q4_ UL_Q4_ UL_Q4_
__asm__(
    ".pushsection .text.ul_prep_row, \"ax\", %progbits\n"
    ".syntax unified\n"
    ".thumb\n"
    ".p2align 2\n"
    ".type ul_prep_row, %function\n"
    ".thumb_func\n"
    "ul_prep_row:\n"
    "push {r4, r5, r6, r7, r8, r10, r11, lr}\n"
    "adr.w r12, .Lul_prep_end\n"
    "sub r12, r12, r2\n"
    "orr r12, r12, #1\n"
    "push {r0, r12}\n"                    /* [sp] x, [sp, #4] entry (Thumb bit set), [sp, #40] s_end */
    "mov lr, r3\n"
    "0:\n"
    "ldr r0, [sp]\n"
    "ldmia r1!, {r4, r5, r6, r7}\n"
    "ldr pc, [sp, #4]\n"
    ".Lul_prep_start:\n"
    UL_Q16_ UL_Q16_ UL_Q16_ UL_Q16_
    ".Lul_prep_end:\n"
    "stmia lr!, {r4, r5, r6, r7}\n"
    "ldr r12, [sp, #40]\n"
    "cmp lr, r12\n"
    "bne 0b\n"
    "add sp, sp, #8\n"
    "pop {r4, r5, r6, r7, r8, r10, r11, pc}\n"
    ".if (.Lul_prep_end - .Lul_prep_start) - 44 * 64\n"
    ".error \"ul_prep_row: a k-quad is not 44 bytes\"\n"
    ".endif\n"
    ".size ul_prep_row, . - ul_prep_row\n"
    ".popsection\n");

/* ul_prep_expand(a, x, quads, ao2): x[2q] = SXTAB16(ao2, word q of a), x[2q+1] = the same ROR 8:
   (a + a_off) of k = 4q, 4q+2 and 4q+1, 4q+3 as int16 pairs (a may be unaligned). */
void ul_prep_expand(const int8_t *a, uint32_t *x, uint32_t quads, uint32_t ao2);
__asm__(
    ".pushsection .text.ul_prep_expand, \"ax\", %progbits\n"
    ".syntax unified\n"
    ".thumb\n"
    ".p2align 2\n"
    ".type ul_prep_expand, %function\n"
    ".thumb_func\n"
    "ul_prep_expand:\n"
    "push {r4, r5, r6, r7, r8, r9, r10, r11}\n"
    "lsrs r12, r2, #2\n"
    "beq 2f\n"
    "1:\n"
    "ldr r8, [r0], #4\n"
    "ldr r9, [r0], #4\n"
    "ldr r10, [r0], #4\n"
    "ldr r11, [r0], #4\n"
    "sxtab16 r4, r3, r8\n"
    "sxtab16 r5, r3, r8, ror #8\n"
    "sxtab16 r6, r3, r9\n"
    "sxtab16 r7, r3, r9, ror #8\n"
    "sxtab16 r8, r3, r10\n"
    "sxtab16 r9, r3, r10, ror #8\n"
    "sxtab16 r10, r3, r11\n"
    "sxtab16 r11, r3, r11, ror #8\n"
    "stmia r1!, {r4, r5, r6, r7, r8, r9, r10, r11}\n"
    "subs r12, r12, #1\n"
    "bne 1b\n"
    "2:\n"
    "ands r2, r2, #3\n"
    "beq 4f\n"
    "3:\n"
    "ldr r8, [r0], #4\n"
    "sxtab16 r4, r3, r8\n"
    "sxtab16 r5, r3, r8, ror #8\n"
    "stmia r1!, {r4, r5}\n"
    "subs r2, r2, #1\n"
    "bne 3b\n"
    "4:\n"
    "pop {r4, r5, r6, r7, r8, r9, r10, r11}\n"
    "bx lr\n"
    ".size ul_prep_expand, . - ul_prep_expand\n"
    ".popsection\n");

/* ul_prep_rq4(s, p, o, groups, out_off): 4 * groups outputs o[c] = SSAT8(out_off + RDBPOT(SRDHM(acc,
   mult), r)) from s[c] = 2 * acc (|acc| < 2^30) and p[2c] = mult, p[2c+1] = -2^(32 - r), r >= 1:
     h  = SMMULR(2 acc, mult)                       SRDHM
     hm = h - (h < 0)                               ADD h, h, ASR #31
     y  = SMMLSR(hm, -2^(32-r), out_off)            out_off + floor((hm * 2^(32-r) + 2^31) / 2^32)
        = out_off + floor((hm + 2^(r-1)) / 2^r)     the rounding divide by 2^r (round half away from 0)
   6.25 instructions per output. */
void ul_prep_rq4(const int32_t *s, const int32_t *p, int8_t *o, uint32_t groups, int32_t out_off);
#define UL_RQ_(S, M, P) \
    "smmulr " S ", " S ", " M "\n" \
    "add " S ", " S ", " S ", asr #31\n" \
    "smmlsr " S ", " S ", " P ", r12\n" \
    "ssat " S ", #8, " S "\n"
__asm__(
    ".pushsection .text.ul_prep_rq4, \"ax\", %progbits\n"
    ".syntax unified\n"
    ".thumb\n"
    ".p2align 2\n"
    ".type ul_prep_rq4, %function\n"
    ".thumb_func\n"
    "ul_prep_rq4:\n"
    "push {r4, r5, r6, r7, r8, r9, r10, r11}\n"
    "ldr r12, [sp, #32]\n"
    "1:\n"
    "ldmia r0!, {r4, r5, r6, r7}\n"
    "ldmia r1!, {r8, r9, r10, r11}\n"
    UL_RQ_("r4", "r8", "r9")
    UL_RQ_("r5", "r10", "r11")
    "ldmia r1!, {r8, r9, r10, r11}\n"
    UL_RQ_("r6", "r8", "r9")
    UL_RQ_("r7", "r10", "r11")
    "strb r4, [r2], #1\n"
    "strb r5, [r2], #1\n"
    "strb r6, [r2], #1\n"
    "strb r7, [r2], #1\n"
    "subs r3, r3, #1\n"
    "bne 1b\n"
    "pop {r4, r5, r6, r7, r8, r9, r10, r11}\n"
    "bx lr\n"
    ".size ul_prep_rq4, . - ul_prep_rq4\n"
    ".popsection\n");

static inline int32_t smmlsr(int32_t x, int32_t y, int32_t a) {   /* (a*2^32 - x*y + 2^31) >> 32 */
    int32_t r;
    __asm__("smmlsr %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(a));
    return r;
}

/* x = (a + a_off) of one row as int16 pairs (ul_prep_expand), the last partial quad padded with 0 */
static void prep_expand(const int8_t *ar, uint32_t *x, int32_t k, uint32_t ao2, int32_t a_off) {
    const int32_t quads = k >> 2, rest = k & 3;
    if (quads) {
        ul_prep_expand(ar, x, (uint32_t)quads, ao2);
    }
    if (rest) {   /* missing lanes meet zero weights; 0 keeps them defined */
        const int8_t *t = ar + 4 * quads;
        x[2 * quads] = pack16(t[0] + a_off, rest > 2 ? t[2] + a_off : 0);
        x[2 * quads + 1] = pack16(rest > 1 ? t[1] + a_off : 0, 0);
    }
}
#endif

int ul_gemm_s8_prep(const int8_t *a, const void *wprep, const int32_t *mult, const int8_t *shift, int8_t *out,
                    int32_t m, int32_t n, int32_t k, int32_t a_off, int32_t out_off, int32_t act_min,
                    int32_t act_max) {
    if (m < 0 || n < 0 || k < 0) {
        return UL_E_DIM;
    }
    if (a_off < -UL_OFF_LIMIT || a_off > UL_OFF_LIMIT) {
        return UL_E_AOFF;
    }
    if (!wprep || (m && k && !a) || (m && n && !out)) {
        return UL_E_NULL;
    }
    const int32_t *wp = (const int32_t *)wprep;
    if (((uintptr_t)wprep & 3u) || wp[0] != UL_PREP_MAGIC || wp[1] != n || wp[2] != k) {
        return UL_E_PREP;
    }
    int st = check_requant(mult, shift, n, out_off, act_min, act_max);
    if (st != UL_OK || !m || !n) {
        return st;
    }
    const int full = act_min == -128 && act_max == 127;
    int32_t s[UL_PREP_NCH] __attribute__((aligned(8)));
#if UL_DSP
    /* |acc| <= k * max|a + a_off| * max|b + b_off| + max|bias| < 2^30: the doubled sums do not wrap and
       SMMULR gives SRDHM exactly (channels with a right shift r >= 1 go through ul_prep_rq4, the
       others through finish()); otherwise the exact C sums and finish() for every output */
    const int64_t amax = a_off >= 0 ? 127 + a_off : 128 - a_off;
    const int dsp = k >= 1 && k <= UL_PREP_QMAX * 4 && (int64_t)k * amax * wp[4] + wp[5] < (1 << 30);
    uint32_t x[UL_PREP_QMAX * 2] __attribute__((aligned(8)));
    int32_t par[2 * UL_PREP_NCH] __attribute__((aligned(8)));
    uint8_t slow[UL_PREP_NCH];
    const uint32_t ao2 = pack16(a_off, a_off), skip = 44u * (uint32_t)((k + 3) / 4);
#endif
    for (int32_t j0 = 0; j0 < n; j0 += UL_PREP_NCH) {
        const int32_t nc = n - j0 < UL_PREP_NCH ? n - j0 : UL_PREP_NCH, nb = (nc + 3) / 4;
        const int32_t *mu = mult + j0;
        const int8_t *sh = shift + j0;
#if UL_DSP
        int32_t nslow = 0;
        for (int32_t c = 0; c < nc; c++) {
            const int32_t r = -sh[c];
            par[2 * c] = mu[c];
            par[2 * c + 1] = r >= 1 ? (int32_t)(0u - (1u << (32 - r))) : 0;
            if (r < 1) {
                slow[nslow++] = (uint8_t)c;
            }
        }
        const uint32_t *wblk = (const uint32_t *)(prep_blocks(wp, n) + (size_t)(j0 / 4) * prep_block_words(k));
#endif
        for (int32_t i = 0; i < m; i++) {
            const int8_t *ar = a + (size_t)i * (size_t)k;
            int8_t *o = out + (size_t)i * (size_t)n + (size_t)j0;
#if UL_DSP
            if (dsp) {
                prep_expand(ar, x, k, ao2, a_off);
                ul_prep_row(x, wblk, skip, s, s + 4 * nb);
                int32_t c = nc & ~3;
                if (c) {
                    ul_prep_rq4(s, par, o, (uint32_t)c >> 2, out_off);
                }
                for (; c < nc; c++) {
                    if (par[2 * c + 1]) {
                        int32_t h = smmulr(s[c], par[2 * c]);
                        o[c] = (int8_t)__ssat(smmlsr(h + (h >> 31), par[2 * c + 1], out_off), 8);
                    }
                }
                for (int32_t t = 0; t < nslow; t++) {   /* no right shift */
                    c = slow[t];
                    if (sh[c] == 0) {   /* SRDHM alone: out_off + SMMULR(2 acc, mult), |.| < 2^30 */
                        o[c] = (int8_t)__ssat(smmulr(s[c], mu[c]) + out_off, 8);
                    } else {            /* a left shift: the general requantization */
                        o[c] = finish((uint32_t)(s[c] >> 1), mu[c], sh[c], out_off, act_min, act_max);
                    }
                }
                if (!full) {
                    for (c = 0; c < nc; c++) {
                        o[c] = (int8_t)(o[c] < act_min ? act_min : (o[c] > act_max ? act_max : o[c]));
                    }
                }
                continue;
            }
#endif
            prep_row_c(ar, wp, n, k, a_off, j0 / 4, nb, s);
            for (int32_t c = 0; c < nc; c++) {
                o[c] = finish((uint32_t)s[c], mu[c], sh[c], out_off, act_min, act_max);
            }
        }
    }
    (void)full;
    return UL_OK;
}

/* ---- pooling (see ulearn_kernel.h): TFLite int8 MaxPool2D / AveragePool2D over the valid taps ---- */

#define UL_POOL_CH 64              /* channels pooled at a time (int32 sums on the stack) */
#define UL_POOL_TAPS (1L << 23)    /* taps per window: |sum| <= 128 * 2^23 = 2^30 fits int32 */

/* every window along one axis holds at least one input position: the first starts at -pad and ends at
   k - pad > 0, the last starts at (out - 1) * s - pad < in; the windows between lie between them */
static int pool_axis_ok(int32_t in, int32_t out, int32_t k, int32_t s, int32_t pad) {
    return in > 0 && pad < k && (int64_t)(out - 1) * s - pad < in;
}

static int check_pool(const int8_t *x, const int8_t *out, int32_t in_h, int32_t in_w, int32_t c,
                      int32_t out_h, int32_t out_w, int32_t k_h, int32_t k_w, int32_t s_h, int32_t s_w,
                      int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max) {
    if (in_h < 0 || in_w < 0 || c < 0 || out_h < 0 || out_w < 0 || k_h < 1 || k_w < 1 || s_h < 1 ||
        s_w < 1 || pad_top < 0 || pad_left < 0) {
        return UL_E_DIM;
    }
    if (act_min < -128 || act_min > act_max || act_max > 127) {
        return UL_E_ACT;
    }
    if (!out_h || !out_w || !c) {
        return UL_OK;   /* nothing to compute */
    }
    if (!pool_axis_ok(in_h, out_h, k_h, s_h, pad_top) || !pool_axis_ok(in_w, out_w, k_w, s_w, pad_left)) {
        return UL_E_WINDOW;
    }
    const int64_t th = k_h < in_h ? k_h : in_h, tw = k_w < in_w ? k_w : in_w;
    if (th * tw > UL_POOL_TAPS) {
        return UL_E_WINDOW;
    }
    if (!x || !out) {
        return UL_E_NULL;
    }
    return UL_OK;
}

/* max over a window of ny x nx taps (rows `rs` bytes apart, taps `c` apart) for channels 0 .. nc-1
   of base, clamped: max(act_min, taps...) then min(act_max) is the clamp of the maximum */
static void pool_max_window(const int8_t *base, int8_t *o, size_t rs, int32_t ny, int32_t nx, int32_t c,
                            int32_t nc, int8_t lo, int8_t hi) {
    int8_t m[UL_POOL_CH];
    for (int32_t ch = 0; ch < nc; ch++) {
        m[ch] = lo;
    }
    for (int32_t iy = 0; iy < ny; iy++) {
        const int8_t *p = base + (size_t)iy * rs;
        for (int32_t ix = 0; ix < nx; ix++, p += c) {
            for (int32_t ch = 0; ch < nc; ch++) {
                m[ch] = p[ch] > m[ch] ? p[ch] : m[ch];
            }
        }
    }
    for (int32_t ch = 0; ch < nc; ch++) {
        o[ch] = m[ch] < hi ? m[ch] : hi;
    }
}

/* the same for exactly W channels (W a constant after inlining: 8 or 16, loops the compiler turns into
   whole-vector byte maxima) */
static inline __attribute__((always_inline)) void pool_max_w(const int8_t *base, int8_t *o, size_t rs, int32_t ny,
                                                             int32_t nx, int32_t c, const int32_t W, int8_t lo,
                                                             int8_t hi) {
#if UL_SSE2
    /* bytes biased by 0x80 compare as unsigned (SSE2 has PMAXUB, not PMAXSB) */
    const __m128i bias = _mm_set1_epi8((char)0x80);
    __m128i v = _mm_set1_epi8((char)(lo ^ 0x80));
    for (int32_t iy = 0; iy < ny; iy++) {
        const int8_t *p = base + (size_t)iy * rs;
        for (int32_t ix = 0; ix < nx; ix++, p += c) {
            const __m128i t = W == 16 ? _mm_loadu_si128((const __m128i *)p) : _mm_loadl_epi64((const __m128i *)p);
            v = _mm_max_epu8(v, _mm_xor_si128(t, bias));
        }
    }
    v = _mm_xor_si128(_mm_min_epu8(v, _mm_set1_epi8((char)(hi ^ 0x80))), bias);
    if (W == 16) {
        _mm_storeu_si128((__m128i *)o, v);
    } else {
        _mm_storel_epi64((__m128i *)o, v);
    }
#elif UL_DSP
    /* four bytes per word: SSUB8 sets a GE bit per byte where the first operand is >= the second, SEL
       then takes those bytes from the first: a byte-wise signed maximum (or minimum) in 2 instructions */
    const uint32_t lo4 = (uint8_t)lo * 0x01010101u, hi4 = (uint8_t)hi * 0x01010101u;
    uint32_t m[4] = {lo4, lo4, lo4, lo4};
    for (int32_t iy = 0; iy < ny; iy++) {
        const int8_t *p = base + (size_t)iy * rs;
        for (int32_t ix = 0; ix < nx; ix++, p += c) {
            for (int32_t q = 0; q < W / 4; q++) {
                const uint32_t t = ld32(p + 4 * q);
                (void)__ssub8(t, m[q]);
                m[q] = __sel(t, m[q]);
            }
        }
    }
    for (int32_t q = 0; q < W / 4; q++) {
        (void)__ssub8(m[q], hi4);
        const uint32_t v = __sel(hi4, m[q]);
        memcpy(o + 4 * q, &v, 4);
    }
#else
    int8_t m[16];
    for (int32_t ch = 0; ch < W; ch++) {
        m[ch] = lo;
    }
    for (int32_t iy = 0; iy < ny; iy++) {
        const int8_t *p = base + (size_t)iy * rs;
        for (int32_t ix = 0; ix < nx; ix++, p += c) {
            for (int32_t ch = 0; ch < W; ch++) {
                m[ch] = p[ch] > m[ch] ? p[ch] : m[ch];
            }
        }
    }
    for (int32_t ch = 0; ch < W; ch++) {
        o[ch] = m[ch] < hi ? m[ch] : hi;
    }
#endif
}

/* rounded average (TFLite: half away from zero, C division truncating toward zero), clamped */
static void pool_avg_window(const int8_t *base, int8_t *o, size_t rs, int32_t ny, int32_t nx, int32_t c,
                            int32_t nc, int32_t lo, int32_t hi) {
    int32_t acc[UL_POOL_CH];
    for (int32_t ch = 0; ch < nc; ch++) {
        acc[ch] = 0;
    }
    for (int32_t iy = 0; iy < ny; iy++) {
        const int8_t *p = base + (size_t)iy * rs;
        for (int32_t ix = 0; ix < nx; ix++, p += c) {
            for (int32_t ch = 0; ch < nc; ch++) {
                acc[ch] += p[ch];
            }
        }
    }
    const int32_t count = ny * nx, half = count / 2;
    for (int32_t ch = 0; ch < nc; ch++) {
        int32_t v = acc[ch] > 0 ? (acc[ch] + half) / count : (acc[ch] - half) / count;
        o[ch] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}

static void pool_s8(const int8_t *x, int8_t *out, int is_max, int32_t in_h, int32_t in_w, int32_t c,
                    int32_t out_h, int32_t out_w, int32_t k_h, int32_t k_w, int32_t s_h, int32_t s_w,
                    int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max) {
    const size_t rs = (size_t)in_w * (size_t)c;
    int8_t *o = out;
    for (int32_t oy = 0; oy < out_h; oy++) {
        const int64_t ys = (int64_t)oy * s_h - pad_top, ye = ys + k_h;   /* checked: overlaps [0, in_h) */
        const int32_t y0 = ys < 0 ? 0 : (int32_t)ys, y1 = ye > in_h ? in_h : (int32_t)ye;
        for (int32_t ox = 0; ox < out_w; ox++, o += c) {
            const int64_t xs = (int64_t)ox * s_w - pad_left, xe = xs + k_w;
            const int32_t x0 = xs < 0 ? 0 : (int32_t)xs, x1 = xe > in_w ? in_w : (int32_t)xe;
            const int8_t *base = x + (size_t)y0 * rs + (size_t)x0 * (size_t)c;
            if (is_max && (c & 7) == 0) {   /* channels in whole groups of 16 and 8 */
                int32_t ch0 = 0;
                for (; ch0 + 16 <= c; ch0 += 16) {
                    pool_max_w(base + ch0, o + ch0, rs, y1 - y0, x1 - x0, c, 16, (int8_t)act_min, (int8_t)act_max);
                }
                if (ch0 < c) {
                    pool_max_w(base + ch0, o + ch0, rs, y1 - y0, x1 - x0, c, 8, (int8_t)act_min, (int8_t)act_max);
                }
                continue;
            }
            for (int32_t ch0 = 0; ch0 < c; ch0 += UL_POOL_CH) {
                const int32_t nc = c - ch0 < UL_POOL_CH ? c - ch0 : UL_POOL_CH;
                if (is_max) {
                    pool_max_window(base + ch0, o + ch0, rs, y1 - y0, x1 - x0, c, nc, (int8_t)act_min,
                                    (int8_t)act_max);
                } else {
                    pool_avg_window(base + ch0, o + ch0, rs, y1 - y0, x1 - x0, c, nc, act_min, act_max);
                }
            }
        }
    }
}

static int pool_any(const int8_t *x, int8_t *out, int is_max, int32_t in_h, int32_t in_w, int32_t c,
                    int32_t out_h, int32_t out_w, int32_t k_h, int32_t k_w, int32_t s_h, int32_t s_w,
                    int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max) {
    int st = check_pool(x, out, in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, act_min,
                        act_max);
    if (st == UL_OK && out_h && out_w && c) {
        pool_s8(x, out, is_max, in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, act_min,
                act_max);
    }
    return st;
}

int ul_max_pool_s8(const int8_t *x, int8_t *out, int32_t in_h, int32_t in_w, int32_t c, int32_t out_h,
                   int32_t out_w, int32_t k_h, int32_t k_w, int32_t s_h, int32_t s_w, int32_t pad_top,
                   int32_t pad_left, int32_t act_min, int32_t act_max) {
    return pool_any(x, out, 1, in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, act_min,
                    act_max);
}

int ul_avg_pool_s8(const int8_t *x, int8_t *out, int32_t in_h, int32_t in_w, int32_t c, int32_t out_h,
                   int32_t out_w, int32_t k_h, int32_t k_w, int32_t s_h, int32_t s_w, int32_t pad_top,
                   int32_t pad_left, int32_t act_min, int32_t act_max) {
    return pool_any(x, out, 0, in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, act_min,
                    act_max);
}

int ul_pool_s8(const int8_t *x, int8_t *out, const int32_t *p) {
    if (!p) {
        return UL_E_NULL;
    }
    if (p[0] != 0 && p[0] != 1) {
        return UL_E_DIM;
    }
    if (p[12] < 0 || p[12] > 255 || p[13] < 0 || p[13] > 255) {
        return UL_E_ACT;
    }
    return pool_any(x, out, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11],
                    p[12] - 128, p[13] - 128);
}

int ul_pool_sizes(const int32_t *p, int32_t *in_bytes, int32_t *out_bytes) {
    if (!p || !in_bytes || !out_bytes) {
        return UL_E_NULL;
    }
    if (p[1] < 0 || p[2] < 0 || p[3] < 0 || p[4] < 0 || p[5] < 0) {
        return UL_E_DIM;
    }
    const int64_t in_px = (int64_t)p[1] * p[2], out_px = (int64_t)p[4] * p[5];   /* < 2^62 */
    if (in_px > INT32_MAX || out_px > INT32_MAX || in_px * p[3] > INT32_MAX || out_px * p[3] > INT32_MAX) {
        return UL_E_DIM;
    }
    const int64_t in = in_px * p[3], out = out_px * p[3];
    if (in > INT32_MAX || out > INT32_MAX) {
        return UL_E_DIM;
    }
    *in_bytes = (int32_t)in;
    *out_bytes = (int32_t)out;
    return UL_OK;
}

/* ---- int8 softmax (TFLite Micro's int8 reference arithmetic; = lib/ulearn/nn/_softmax.py) ---- */

/* Python's srdhm (lib/ulearn/fixedpoint.py) for two operands whose product fits int64 (no INT32_MIN
   pair here): (ab + 2^30) >> 31 for ab >= 0, else -((2^30 - 1 - ab) >> 31). */
static inline int64_t sm_srdhm(int64_t a, int64_t b) {
    int64_t ab = a * b;
    return ab >= 0 ? (ab + 1073741824) >> 31 : -((1073741823 - ab) >> 31);
}

static inline int64_t sm_sat_shl(int64_t x, int e) {   /* shift by e in {1, 2, 5}, saturated to int32 */
    int64_t thr = ((int64_t)1 << (31 - e)) - 1;
    if (x > thr) {
        return INT32_MAX;
    }
    if (x < -thr) {
        return INT32_MIN;
    }
    return x * ((int64_t)1 << e);
}

static inline int64_t sm_rdbpot(int64_t x, int e) {   /* RoundingDivideByPOT, floor shifts as Python */
    int64_t mask = ((int64_t)1 << e) - 1;
    int64_t rem = x & mask;
    int64_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    int64_t fl = x >= 0 ? x >> e : -(((-x) + mask) >> e);
    return fl + (rem > thr ? 1 : 0);
}

/* exp(-d) in Q0.31 for 0 <= d <= 255 (softmax_exp): 0 below diff_min, else gemmlowp
   exp_on_negative_values of a = srdhm(-(d << ls), mult). a is computed exactly even where d << ls
   leaves int32 (a blob whose diff_min does not match its shift), as the Python reference does. */
static int32_t sm_exp(int32_t d, int32_t mult, int32_t ls, int32_t dmin) {
    if (-d < dmin) {
        return 0;
    }
    if (d == 0 || mult == 0) {
        return INT32_MAX;   /* a == 0 */
    }
    /* a = -floor((d*mult*2^ls + 2^30 - 1) / 2^31); d*mult < 2^39 split at bit 31 - ls */
    int64_t prod = (int64_t)d * mult;
    int k = 31 - ls;
    int64_t hi = prod >> k, lo = prod & (((int64_t)1 << k) - 1);
    int64_t a = -(hi + (((lo << ls) + 1073741823) >> 31));
    if (a == 0) {
        return INT32_MAX;
    }
    int64_t a_mod = (a & 16777215) - 16777216;                 /* Q5.26 in [-1/4, 0) */
    int64_t x = sm_sat_shl(a_mod, 5) + 268435456;               /* + 1/8 in Q0.31 */
    int64_t x2 = sm_srdhm(x, x);
    int64_t x3 = sm_srdhm(x2, x);
    int64_t x4 = sm_srdhm(x2, x2);
    int64_t poly = sm_rdbpot(sm_srdhm(sm_rdbpot(x4, 2) + x3, 715827883) + x2, 1);
    int64_t r = 1895147668 + sm_srdhm(1895147668, x + poly);
    int64_t rem = a_mod - a;
    /* exp(-1/4), exp(-1/2), ... exp(-16) in Q0.31 for bits 24 .. 30 of rem (no table: natmods keep
       no initialised data) */
    r = (rem & 16777216) ? sm_srdhm(r, 1672461947) : r;
    r = (rem & 33554432) ? sm_srdhm(r, 1302514674) : r;
    r = (rem & 67108864) ? sm_srdhm(r, 790015084) : r;
    r = (rem & 134217728) ? sm_srdhm(r, 290630308) : r;
    r = (rem & 268435456) ? sm_srdhm(r, 39332535) : r;
    r = (rem & 536870912) ? sm_srdhm(r, 720401) : r;
    r = (rem & 1073741824) ? sm_srdhm(r, 242) : r;
    return (int32_t)r;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1 of a Q0.31 a >= 0 (the only inputs for n <= UL_SOFTMAX_MAX) */
static int64_t sm_one_over_one_plus(int64_t a) {
    int64_t half = (a + INT32_MAX + 1) >> 1;   /* a + INT32_MAX >= 0: +1, then halve toward 0 */
    int64_t x = 1515870810 + sm_srdhm(half, -1010580540);
    for (int i = 0; i < 3; i++) {
        int64_t p = sm_srdhm(half, x);
        p = sm_srdhm(x, 536870912 - p);
        x += sm_sat_shl(p, 2);
    }
    return sm_sat_shl(x, 1);
}

int ul_softmax_s8(const int8_t *x, int8_t *out, int32_t n, int32_t mult, int32_t left_shift,
                  int32_t diff_min) {
    if (n < 0 || n > UL_SOFTMAX_MAX) {
        return UL_E_DIM;
    }
    if (mult < 0) {
        return UL_E_MULT;
    }
    if (left_shift < 0 || left_shift > 30) {
        return UL_E_SHIFT;
    }
    if (diff_min > 0) {
        return UL_E_DIFFMIN;
    }
    if (n == 0) {
        return UL_OK;
    }
    if (!x || !out) {
        return UL_E_NULL;
    }
    int32_t top = -128;
    for (int32_t i = 0; i < n; i++) {
        if (x[i] > top) {
            top = x[i];
        }
    }
    int32_t total = 0;   /* < 4096 * 2^19: no wrap */
    for (int32_t i = 0; i < n; i++) {
        total += (int32_t)(((int64_t)sm_exp(top - x[i], mult, left_shift, diff_min) + 2048) >> 12);
    }
    int clz = 0;   /* total >= 2^19 (the top value adds exp(0) >> 12) */
    uint32_t t = (uint32_t)total;
    while (!(t & 0x80000000u)) {
        t <<= 1;
        clz++;
    }
    int bits = 12 - clz + 23;
    int64_t scale = sm_one_over_one_plus((int64_t)(t - 0x80000000u));
    int64_t half = (int64_t)1 << (bits - 1);
    /* each exp again where it is written: x and out may be the same buffer, no scratch */
    for (int32_t i = 0; i < n; i++) {
        int64_t e = sm_exp(top - x[i], mult, left_shift, diff_min);
        int64_t v = ((((scale * e + 1073741824) >> 31) + half) >> bits) - 128;
        out[i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
    return UL_OK;
}
