"""Fixed-point helpers of the SVMs: feature normalization, RBF kernel stage (exp table), RFF cosine.

Pure-Python reference here; ``_sviper.py`` holds the same kernels in viper (same integers).

    norm(x, mu, mul, sh, z, n, lim)
                                 z[i] = sat((sat16(x[i]-mu[i]) * mul[i] + 2^(sh[i]-1)) >> sh[i], lim)
                                 sat(v, lim) clamps v to [-lim, lim] (lim 1..32767; sat16: lim 32767)
    kstage(d, svn, zn, ks, n, zq, ftab, etab)
                                 d2 = max(0, zn + svn[i] - 2*d[i])   (squared distance, Q(zq))
                                 ks[i] = exp(-d2) in Q15 (1.0 = 32767) by table, see exp_q15
    rffcos(ph, phi, n, ctab)     phi[r] = cos(2*pi*ph[r]/65536) in Q15, ph in Q16 turns

exp(-u), u >= 0 in Q(zq): n = u >> zq (integer part; 0 when n >= 12), j = 64ths of the fraction,
linear interpolation inside a 64th: exp(-u) ~= E[n] * (F[j] + (F[j+1]-F[j]) * r) with
E[n] = round(32767 e^-n), F[j] = round(32767 e^(-j/64)). Error against the float exp, measured over
u in [0, 12) on a 2^-12 grid by tests/test_svm_export.py: at most 2.03 LSB of Q15 (6.2e-5); for u >= 12
the true value is below 2e-1 LSB and the table gives 0.
Cosine: 1025-entry Q15 table over a full turn, linear interpolation; error <= 1 LSB.
"""

import math
from array import array

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

EXP_INT = const(12)       # e^-n for n = 0..11; beyond, the kernel value is 0
EXP_FRAC_BITS = const(6)  # 64 steps per unit of u
COS_BITS = const(10)      # 1024 table steps per turn
_ONE = const(32767)


def _q15(v):
    return int(math.floor(_ONE * v + 0.5))


def exp_tables():
    """(F, E): 'h' arrays, F[j] = round(32767 exp(-j/64)) j = 0..64, E[n] = round(32767 exp(-n)) n < 12."""
    f = array("h", bytes(2 * 65))
    for j in range(65):
        f[j] = _q15(math.exp(-j / 64.0))
    e = array("h", bytes(2 * EXP_INT))
    for n in range(EXP_INT):
        e[n] = _q15(math.exp(-n))
    return f, e


def cos_table():
    """'h' array of 1025 entries: round(32767 cos(2 pi k / 1024))."""
    c = array("h", bytes(2 * 1025))
    for k in range(1025):
        c[k] = _q15(math.cos(2.0 * math.pi * k / 1024.0))
    return c


def exp_q15(u, zq, ftab, etab):
    """exp(-u) in Q15 for u >= 0 in Q(zq) (zq >= 6), by the tables (see module docstring)."""
    n = u >> zq
    if n >= EXP_INT:
        return 0
    lo = zq - EXP_FRAC_BITS
    j = (u >> lo) & 63
    r = u & ((1 << lo) - 1)
    a = ftab[j]
    fr = a + (((ftab[j + 1] - a) * r) >> lo)
    return (etab[n] * fr + 16384) >> 15


def py_norm(x, mu, mul, sh, z, n, lim):
    for i in range(n):
        d = x[i] - mu[i]
        if d > 32767:
            d = 32767
        elif d < -32767:
            d = -32767
        s = sh[i]
        v = (d * mul[i] + (1 << (s - 1))) >> s
        if v > lim:
            v = lim
        elif v < -lim:
            v = -lim
        z[i] = v


def py_kstage(d, svn, zn, ks, n, zq, ftab, etab):
    lo = zq - EXP_FRAC_BITS
    mask = (1 << lo) - 1
    for i in range(n):
        u = zn + svn[i] - 2 * d[i]
        if u < 0:
            u = 0
        k = u >> zq
        if k >= EXP_INT:
            ks[i] = 0
            continue
        j = (u >> lo) & 63
        a = ftab[j]
        fr = a + (((ftab[j + 1] - a) * (u & mask)) >> lo)
        ks[i] = (etab[k] * fr + 16384) >> 15


def py_rffcos(ph, phi, n, ctab):
    for r in range(n):
        p = ph[r] & 0xFFFF
        i = p >> 6
        a = ctab[i]
        phi[r] = a + (((ctab[i + 1] - a) * (p & 63)) >> 6)


PYTHON = (py_norm, py_kstage, py_rffcos)


def kernels(path):
    """(norm, kstage, rffcos) of 'python' or 'viper' (ImportError when viper cannot run here)."""
    if path == "python":
        return PYTHON
    if path == "viper":
        try:
            from ulearn.svm import _sviper
        except (SyntaxError, NameError) as e:  # CPython's `micropython` shim refuses @viper
            raise ImportError("viper is not available here (%s)" % e)
        return _sviper.KERNELS
    raise ValueError("unknown SVM path %r: choose 'python' or 'viper'" % (path,))


def fused(path, form):
    """The viper function computing a whole `form` ('kernel' or 'linear') decision in one call
    (``_svfused.py``: v_kernel / v_linear), or None.

    Used for path 'viper'; with the native backend only for linear models (its C matvec makes the
    kernel SVM faster than one viper call, measured: 3.5 vs 6.3 us; not the linear one: 1.6 vs 1.3).
    """
    if path != "viper":
        return None
    from ulearn import backend
    if backend.NAME == "native" and form == "kernel":
        return None
    try:
        from ulearn.svm import _svfused
    except (SyntaxError, NameError) as e:  # no viper emitter here
        raise ImportError("viper is not available here (%s)" % e)
    return _svfused.v_kernel if form == "kernel" else _svfused.v_linear


def default_path():
    """'python' when the GEMM backend is the pure-Python one, else 'viper' (when it compiles here)."""
    from ulearn import backend
    if backend.NAME == "python":
        return "python"
    try:
        kernels("viper")
        return "viper"
    except ImportError:
        return "python"
