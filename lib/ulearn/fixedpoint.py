"""Fixed-point arithmetic of the TFLite int8 specification: the one `requantize` of ulearn.

All values are Python ints holding int32 quantities. Every backend (native C, ulab, viper, pure
Python) and every host reference gives exactly these integers:

    requantize(acc, mult, shift):
        left = max(shift, 0); right = max(-shift, 0)
        x = sat32(acc << left)                              # saturated to int32
        return rounding_divide_by_pot(srdhm(x, mult), right)

`mult` is the Q31 multiplier in [0, 2^31) (TFLite produces [2^30, 2^31), or 0), `shift` the
power-of-two exponent in [-31, 30].
"""

import sys

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

INT32_MIN = const(-2147483648)
INT32_MAX = const(2147483647)
SHIFT_MIN = const(-31)
SHIFT_MAX = const(30)
_Q31 = const(2147483648)    # 2^31
_HALF = const(1073741824)   # 2^30
# True on ports whose small integers are 31-bit (32-bit MicroPython / CircuitPython), where Q31 values
# are heap objects: the pure-Python kernels then requantize with ulearn._limbs.requantize_limbs (the
# same integers as requantize, every intermediate a small int)
LIMBS = sys.maxsize < 4294967296


def sat32(x):
    """`x` (int) saturated to the int32 range."""
    if x > INT32_MAX:
        return INT32_MAX
    if x < INT32_MIN:
        return INT32_MIN
    return x


def wrap32(x):
    """`x` (int) wrapped to int32 like two's-complement 32-bit hardware (the accumulator rule)."""
    return ((x + _Q31) & 0xFFFFFFFF) - _Q31


def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul of two int32: round(a*b / 2^31), ties away from zero.

    `if a == b == INT32_MIN: INT32_MAX`, else `(a*b + nudge) / 2^31` truncated toward zero with
    nudge = 2^30 for a*b >= 0 and 1 - 2^30 otherwise.
    """
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    if ab >= 0:
        return (ab + _HALF) // _Q31
    return -((_HALF - 1 - ab) // _Q31)   # trunc((ab + 1 - 2^30) / 2^31) for negative ab


def rdbpot(x, e):
    """RoundingDivideByPOT: x / 2^e (int32 x, 0 <= e <= 31) rounded to nearest, ties away from zero."""
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > thr else 0)


def requantize(acc, mult, shift):
    """int32 accumulator -> int32 scaled by `mult` (Q31, int) * 2^`shift` (int in [-31, 30]).

    Exactly TFLite's MultiplyByQuantizedMultiplier, with the left shift saturating to int32.
    """
    if shift > 0:
        acc = sat32(acc << shift)
        return srdhm(acc, mult)
    return rdbpot(srdhm(acc, mult), -shift)


def quantize_multiplier(scale):
    """(mult, shift) for a positive float `scale` as TFLite computes it (frexp, Q31 rounding).

    Host/edge helper (float in, ints out); returns (0, 0) for scale == 0.
    """
    if scale == 0:
        return 0, 0
    if scale < 0:
        raise ValueError("scale must be >= 0, got %r" % scale)
    import math
    m, e = math.frexp(scale)
    q = int(math.floor(m * _Q31 + 0.5))   # round half away from zero (m > 0), like TFLite
    if q == _Q31:
        q //= 2
        e += 1
    if e < SHIFT_MIN:
        return 0, 0
    if e > SHIFT_MAX:
        raise ValueError("scale %r too large for int8 requantization (shift %d > 30)" % (scale, e))
    return q, e
