"""The limb arithmetic for ports with 31-bit small ints (ulearn._limbs.requantize_limbs,
ulearn.nn._slimbs.softmax_limbs) gives exactly the integers of ulearn.fixedpoint.requantize and
ulearn.nn._softmax.softmax (host: every edge x every shift, random cases; the host reference softmax).
On the 32-bit interpreter the same functions run in tests/test_nn_viper32.py and, through the
pure-Python backend, in tests/test_native_viper32.py (backend_cases against viper)."""

from __future__ import annotations

import random
from array import array

import numpy as np
from ulearn import _limbs
from ulearn import fixedpoint as fp
from ulearn.nn._slimbs import softmax_limbs
from ulearn.nn._softmax import softmax

from ulearn_host.nn import reference


def test_requantize_limbs_equals_requantize():
    rng = random.Random(1)
    accs = [fp.INT32_MIN, fp.INT32_MIN + 1, -(1 << 30), -(1 << 30) + 1, -65536, -12345, -1, 0, 1, 12345, 65535,
            (1 << 30) - 1, 1 << 30, fp.INT32_MAX]
    mults = [0, 1, 32767, 32768, 65535, 65536, 1 << 30, 1518500250, (1 << 31) - 1]
    cases = [(a, m, s) for a in accs for m in mults for s in range(-31, 31)]
    for _ in range(40000):
        acc = rng.randint(fp.INT32_MIN, fp.INT32_MAX) if rng.random() < 0.5 else rng.randint(-(1 << 20), 1 << 20)
        cases.append((acc, rng.randint(0, (1 << 31) - 1), rng.randint(-31, 30)))
    for acc, mult, shift in cases:
        hi, lo = _limbs.halves(mult)
        assert 0 <= hi <= 32767 and -32768 <= lo <= 32767
        assert _limbs.requantize_limbs(acc, hi, lo, shift) == fp.requantize(acc, mult, shift), (acc, mult, shift)


def test_softmax_limbs_equals_softmax_and_reference():
    rng = np.random.default_rng(4)
    for i in range(600):
        n = int(rng.choice([1, 2, 4, 10, 37, 255, 1000])) if i % 10 == 0 else int(rng.integers(1, 12))
        scale = 10 ** float(rng.uniform(-3.5, 1.0))  # input scales from ~0.0003 to 10
        mult, shift, diff_min = reference.softmax_params(float(rng.choice([1.0, 0.7, 2.0])), scale)
        x = np.full(n, int(rng.integers(-128, 128)), np.int8) if i % 3 == 0 else \
            rng.integers(-128, 128, n).astype(np.int8)
        hi, lo = _limbs.halves(mult)
        g = array("h", [0, 0, n, 0, shift, max(diff_min, -256), hi, lo])
        q = array("i", [mult])
        xa = array("b", x.tobytes())
        a, b = array("b", bytes(n)), array("b", bytes(n))
        softmax(xa, a, q, g, 0)
        softmax_limbs(xa, b, q, g, 0, 6)
        want = reference.softmax_row(x, mult, shift, diff_min).astype(np.int8).tobytes()
        assert bytes(a) == want and bytes(b) == want, (n, mult, shift, diff_min)
