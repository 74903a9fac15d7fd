"""requantize (ulearn.fixedpoint) on 16/8-bit limbs, for ports whose small integers are 31-bit
(ulearn.fixedpoint.LIMBS: 32-bit MicroPython / CircuitPython). Loaded only there, by the pure-Python
kernels and the model load."""

from ulearn.fixedpoint import rdbpot

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SMALL_MAX = const(1073741823)  # 2^30 - 1: the largest small int of 32-bit MicroPython


def halves(mult):
    """(hi, lo) of a Q31 multiplier in [0, 2^31) for requantize_limbs: mult = hi * 65536 + lo + 32768,
    hi in [0, 32767], lo in [-32768, 32767] (both fit an int16 and a small int everywhere)."""
    return mult >> 16, (mult & 0xFFFF) - 32768


def requantize_limbs(acc, hi, lo, shift):
    """requantize(acc, hi * 65536 + lo + 32768, shift) with every intermediate below 2^30 in magnitude.

    For ports whose small integers are 31-bit (32-bit MicroPython/CircuitPython): there a Q31 multiplier
    or a 64-bit product is a heap object, here the multiplier comes as 16-bit halves (see `halves`) and
    SaturatingRoundingDoublingHighMul is done on 16/8/8-bit limbs of |x| and the multiplier. Allocates
    nothing when |acc| < 2^30 (a larger accumulator is itself a heap object); the same integers as
    requantize for every int32 acc, multiplier in [0, 2^31) and shift in [-31, 30].
    """
    neg = 1 if acc < 0 else 0
    ax = -acc if neg else acc
    if shift > 0:  # x = sat32(acc << shift), as the limbs of |x|
        thr = _SMALL_MAX >> (shift - 1)  # INT32_MAX >> shift, without the 2^31 literal
        if ax > thr + neg:
            if neg:  # INT32_MIN: |x| = 2^31
                xh = 32768
                lo16 = 0
            else:  # INT32_MAX
                xh = 32767
                lo16 = 0xFFFF
        elif shift < 16:
            xh = ax >> (16 - shift)
            lo16 = (ax & (0xFFFF >> shift)) << shift
        else:
            xh = ax << (shift - 16)
            lo16 = 0
    else:
        xh = ax >> 16
        lo16 = ax & 0xFFFF
    x1 = lo16 >> 8
    x0 = lo16 & 0xFF
    ml = lo + 32768
    m1 = ml >> 8
    m0 = ml & 0xFF
    # |x| * mult + nudge (2^30, or 2^30 - 1 for a negative product) in base-256 columns, then >> 31
    c = 0xFF if neg else 0
    t = x0 * m0 + c
    t = x1 * m0 + x0 * m1 + (t >> 8) + c
    t = xh * m0 + x1 * m1 + x0 * hi + (t >> 8) + c
    t = xh * m1 + x1 * hi + (t >> 8) + (63 if neg else 64)
    r = ((xh * hi) << 1) + (t >> 7)
    if neg:
        r = -r
    if shift < 0:
        return rdbpot(r, -shift)
    return r
