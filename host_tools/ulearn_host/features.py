"""The device feature definitions (``ulearn.features``) in numpy, vectorised over many windows.

Integer for integer the same arithmetic as ``lib/ulearn/features/extract.py`` and its kernels, so
host features equal the device's pure-Python and viper paths exactly (the tests check this on real
BasicMotions windows and simulated fan windows). Float samples are quantized with the spec's
``in_scale`` exactly as ``Extractor.quantize`` does (round half away from zero, clamp to +-32767).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ulearn.features.spec import FeatureSpec

from .errors import UlearnError

S16 = 32767
DEV_LIMIT = 1023
RMS_LIMIT = 16384
P_LIMIT = 32768

DEFAULT_FEATURES = ("mean", "std", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid")


def isqrt(v: np.ndarray) -> np.ndarray:
    """Exact floor square root of non-negative int64 values (0 for v <= 0)."""
    v = np.maximum(np.asarray(v, dtype=np.int64), 0)
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    r -= (r * r > v).astype(np.int64)
    r -= (r * r > v).astype(np.int64)
    r += ((r + 1) * (r + 1) <= v).astype(np.int64)
    r += ((r + 1) * (r + 1) <= v).astype(np.int64)
    return r


def sat16(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -S16, S16)


def twiddles(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Q15 twiddles, the same formula as the device (computed with Python's math, like the device)."""
    c = np.array([math.floor(S16 * math.cos(2.0 * math.pi * k / n) + 0.5) for k in range(n // 2)], np.int64)
    s = np.array([math.floor(S16 * math.sin(2.0 * math.pi * k / n) + 0.5) for k in range(n // 2)], np.int64)
    return c, s


def fft_q15(re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The device's Q15 radix-2 DIT FFT (each stage halves) over the last axis of int64 arrays."""
    n = re.shape[-1]
    re = re.copy()
    im = im.copy()
    bits = n.bit_length() - 1
    rev = np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(n)])
    re = re[..., rev]
    im = im[..., rev]
    cos_t, sin_t = twiddles(n)
    size = 2
    while size <= n:
        half = size // 2
        step = n // size
        starts = np.arange(0, n, size)
        j = np.arange(half)
        a = (starts[:, None] + j[None, :]).ravel()
        b = a + half
        k = np.tile(j * step, len(starts))
        wr, wi = cos_t[k], sin_t[k]
        xr, xi = re[..., b], im[..., b]
        tr = (xr * wr + xi * wi + 16384) >> 15
        ti = (xi * wr - xr * wi + 16384) >> 15
        ur, ui = re[..., a], im[..., a]
        re[..., b] = (ur - tr) >> 1
        im[..., b] = (ui - ti) >> 1
        re[..., a] = (ur + tr) >> 1
        im[..., a] = (ui + ti) >> 1
        size <<= 1
    return re, im


def quantize(X: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Float windows (n, T, C) in physical units -> int16 counts, as Extractor.quantize does."""
    if spec.in_scale is None:
        raise UlearnError("feature spec has no in_scale: windows must already be int16 counts")
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise UlearnError(f"window {bad[0]} sample {bad[1]} axis {bad[2]} is NaN/inf: clean the data first")
    v = X * np.asarray(spec.in_scale, dtype=np.float64)
    q = np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))
    return np.clip(q, -S16, S16).astype(np.int16)


def compute(Xq: np.ndarray, spec: FeatureSpec, check_saturation: bool = True) -> np.ndarray:
    """Features (n, n_features) int16 of int16 windows Xq (n, T, C): the device definition exactly."""
    Xq = np.asarray(Xq)
    if Xq.ndim != 3 or Xq.shape[1] != spec.window or Xq.shape[2] != spec.axes:
        raise UlearnError(f"windows have shape {Xq.shape}, the feature spec needs (n, {spec.window}, "
                          f"{spec.axes})")
    x = Xq.astype(np.int64)
    n, t, c = x.shape
    if check_saturation and not spec.allow_saturated:
        sat = (x <= -S16) | (x >= S16)
        if sat.any():
            w, _, a = np.argwhere(sat)[0]
            raise UlearnError(f"window {w} axis {a} is saturated (touches +-32767): lower in_scale")
    chans = [x[:, :, i] for i in range(c)]
    if spec.magnitude:
        acc = sum((x[:, :, i] >> 1) ** 2 for i in range(spec.magnitude))
        chans.append(np.minimum(isqrt(acc) << 1, S16))
    ch = np.stack(chans, axis=1)                       # (n, channels, T)
    s1 = ch.sum(-1)
    lo, hi = ch.min(-1), ch.max(-1)
    mean = (2 * s1 + t) // (2 * t)
    rng = hi - lo
    sh = np.zeros_like(rng)
    while True:
        more = (rng >> sh) > DEV_LIMIT
        if not more.any():
            break
        sh += more
    d = ch - mean[..., None]
    neg = d < 0
    zc = (neg[..., 1:] != neg[..., :-1]).sum(-1)
    dp = d >> sh[..., None]
    s2 = (dp * dp).sum(-1)
    q = s2 // t
    v4 = (q << 8) + (((s2 - q * t) << 9) + t) // (2 * t)
    sq4 = isqrt(v4)
    std = sat16(((sq4 << sh) + 8) >> 4)
    safe = np.where(sq4 > 0, sq4, 1)
    z = (dp << 12) // safe[..., None]
    w = (z * z) >> 8
    a3 = ((w * z) >> 8).sum(-1)
    a4 = ((w * ((w + 2) >> 2)) >> 6).sum(-1)
    skew = np.where(sq4 > 0, sat16((2 * a3 + t) // (2 * t)), 0)
    kurt = np.where(sq4 > 0, sat16((2 * a4 + t) // (2 * t)), 0)
    am = np.abs(mean)
    big = np.maximum(am, std)
    k = np.zeros_like(big)
    while True:
        more = (big >> k) >= RMS_LIMIT
        if not more.any():
            break
        k += more
    a, b = am >> k, std >> k
    rms = sat16(isqrt(a * a + b * b) << k)
    zcr = (zc * 65534 + t - 1) // (2 * (t - 1))
    need_fft = any(f in ("dom", "centroid", "band") for f in spec.features)
    if need_fft:
        nf = spec.nfft
        big = np.maximum(hi - mean, mean - lo)
        sl = np.zeros_like(big)
        while True:
            more = (big > 0) & ((big << (sl + 1)) <= S16)
            if not more.any():
                break
            sl += more
        re = np.zeros(ch.shape[:2] + (nf,), np.int64)
        re[..., :t] = np.clip(d, -S16, S16) << sl[..., None]
        fr, fi = fft_q15(re, np.zeros_like(re))
        nb = nf // 2 + 1
        p = ((fr[..., :nb] ** 2) >> 1) + ((fi[..., :nb] ** 2) >> 1)
        kmax = np.argmax(p[..., 1:], axis=-1) + 1
        pmax = np.take_along_axis(p, kmax[..., None], -1)[..., 0]
        sc = np.zeros_like(pmax)
        while True:
            more = (pmax >> sc) >= P_LIMIT
            if not more.any():
                break
            sc += 2 * more
        qp = p >> sc[..., None]
        kk = np.arange(nb)
        tot = qp[..., 1:].sum(-1)
        mom = (qp[..., 1:] * kk[1:]).sum(-1)
        safe_tot = np.where(tot > 0, tot, 1)
        qc = mom // safe_tot
        cent = np.where(tot > 0, sat16((qc << 4) + (((mom - qc * safe_tot) << 5) + safe_tot) // (2 * safe_tot)), 0)
        bands = []
        for k0, k1 in spec.bands:
            lim = (1 << 30) // (k1 - k0)       # each band's own shift keeps its sum below 2^30
            sb = np.zeros_like(pmax)
            while True:
                more = (pmax >> sb) >= lim
                if not more.any():
                    break
                sb += 2 * more
            net = sb - 2 * sl                  # power was computed on the window << sl
            up = np.maximum(net, 0) >> 1
            down = np.maximum(-net, 0) >> 1
            v = isqrt((p[..., k0:k1] >> sb[..., None]).sum(-1))
            rounded = (v + np.where(down > 0, np.int64(1) << np.maximum(down - 1, 0), 0)) >> down
            bands.append(sat16(np.where(net >= 0, v << up, rounded)))
        dom = kmax << 4
    cols: list[np.ndarray] = []
    table = {"mean": mean, "std": std, "rms": rms, "min": lo, "max": hi, "ptp": sat16(rng),
             "skew": skew, "kurt": kurt, "zcr": zcr}
    if need_fft:
        table.update(dom=dom, centroid=cent)
    for ci in range(ch.shape[1]):
        for f in spec.features:
            if f == "band":
                cols.extend(bnd[:, ci] for bnd in bands)
            else:
                cols.append(table[f][:, ci])
    return np.stack(cols, axis=1).astype(np.int16)


def hz_bands(edges_hz: Sequence[float], nfft: int, rate_hz: float) -> list[list[int]]:
    """FFT bin ranges [k0, k1) for consecutive band edges in Hz (bin k is k*rate/nfft Hz; DC excluded)."""
    top = nfft // 2 + 1
    bins = [min(top, max(1, math.ceil(e * nfft / rate_hz - 1e-9))) for e in edges_hz]
    out = [[a, b] for a, b in zip(bins[:-1], bins[1:], strict=False) if b > a]
    if not out:
        raise UlearnError(f"bands {list(edges_hz)} Hz hold no FFT bin at {rate_hz} Hz / nfft {nfft}")
    return out


def make_spec(X: np.ndarray, rate_hz: float, features: Sequence[str] = DEFAULT_FEATURES, hop: int | None = None,
              nfft: int | None = None, bands_hz: Sequence[float] | None = None, magnitude: int = 0,
              axis_names: Sequence[str] | None = None, headroom: float = 2.0) -> FeatureSpec:
    """A FeatureSpec for float windows X (n, T, C): in_scale maps `headroom` x the largest |value| of
    each axis to ~30000 counts (so unseen windows rarely saturate)."""
    X = np.asarray(X, dtype=np.float64)
    t, c = X.shape[1], X.shape[2]
    peak = np.abs(X).reshape(-1, c).max(0)
    scale = [float(f"{30000.0 / (headroom * p):.6g}") if p > 0 else 1.0 for p in peak]
    nf = nfft or (1 << (t - 1).bit_length())
    d: dict = {"version": 1, "window": t, "axes": c, "rate_hz": float(rate_hz), "hop": hop or t,
               "nfft": nf if any(f in ("dom", "centroid", "band") for f in features) else 0,
               "features": list(features), "magnitude": magnitude, "in_scale": scale}
    if bands_hz and "band" in features:
        d["bands"] = hz_bands(bands_hz, nf, rate_hz)
    if axis_names:
        d["axis_names"] = list(axis_names)
    try:
        return FeatureSpec(d)
    except ValueError as e:
        raise UlearnError(str(e)) from None


def features_from_floats(X: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """quantize() then compute(): float windows (n, T, C) -> int16 features (n, n_features)."""
    return compute(quantize(X, spec), spec, check_saturation=False)
