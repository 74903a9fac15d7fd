"""fan-sim: a SIMULATED 3-axis accelerometer on a small fan, classes off / on / clogged / friction.

This is not recorded data. Every value comes from the physical model below, driven by a seeded
random generator, so the same seed always gives the same samples.

Model (one recording; accelerometer screwed to the fan housing, z axis vertical)
----------------------------------------------------------------------------
- Sample rate 200 Hz (Nyquist 100 Hz); units m/s^2; gravity (9.80665 m/s^2) on z, with a small
  random mounting tilt that leaks a little of it into x and y.
- Rotor: a 5-blade fan. Its speed f_r wanders slowly around a nominal value drawn per recording
  (on: 15-18.5 Hz, clogged: 12.5-16 Hz, friction: 14-17.5 Hz - the ranges overlap on purpose), with a
  slow sinusoidal wobble and a band-limited random jitter; the rotor angle is the integral of f_r.
- Imbalance: a force rotating at 1x f_r (0.08-0.25 m/s^2), seen in quadrature on x and y
  (different stiffness per axis) and weakly on z. Misalignment and looseness: 2x and 3x harmonics.
- Blade pass: 5x f_r (the blade-pass frequency, BPF, 62-93 Hz), 0.02-0.07 m/s^2.
- Clogged (blocked intake): lower speed (the motor works harder against the restriction), a
  stronger and unsteady blade-pass component (0.12-0.3 m/s^2: blades cut through disturbed flow;
  its amplitude is modulated at 0.5-3 Hz), and low-frequency turbulence (3-12 Hz broadband).
- Friction (dry bearing or a rubbing blade): broadband noise (0.04-0.1 m/s^2 rms) from 25 Hz up
  to 95 Hz - 1.05 f_r whose amplitude is modulated once per revolution (spreading it by +-f_r), sidebands at
  +-0.4 f_r (bearing cage frequency) around 1x and BPF, and a more irregular speed.
- Off: no rotor; only the background every class has: a weak vibration tone from other machines in
  the building (5-60 Hz) and slow floor sway below 2 Hz.
- Mounting: one gain per recording (0.6-1.6) scales every vibration, so loudness alone cannot
  tell on, clogged and friction apart.
- Sensor: white noise of 0.02 m/s^2 rms per axis (about 2 mg, LIS3DH-like), quantized to 1 mg steps
  (LIS3DH high-resolution mode at +-2 g) and clipped at +-2 g.

Aliasing: every tone is generated only when its frequency (including the wobble) stays below
0.95 x Nyquist (95 Hz at 200 Hz); harmonics above that (10x f_r, 2x BPF ...) are left out, as an
anti-alias filter in front of the ADC would remove them, and broadband parts are synthesised
directly in the band below Nyquist. Nothing aliases.

`simulate(cls, seconds, seed)` gives one continuous recording (for replay through the sensor
stand-in); `load(seed)` windows many short recordings (128 samples, no overlap) into a dataset
whose train and test windows come from different recordings (different fans).
"""

from __future__ import annotations

import numpy as np

from ..errors import UlearnError
from .dataset import Dataset

CLASSES = ["off", "on", "clogged", "friction"]
CHANNELS = ["acc_x", "acc_y", "acc_z"]
RATE_HZ = 200.0
WINDOW = 128
BLADES = 5
G = 9.80665
LSB = 0.001 * G  # 1 mg
FULL_SCALE = 2 * G
NOISE_RMS = 0.02
TRAIN_RECORDINGS = 64  # per class: many short recordings, so models meet many fans, not many windows of few
TEST_RECORDINGS = 24   # per class, other recordings than the training ones
RECORDING_SECONDS = 1.92  # 384 samples = 3 windows
PROVENANCE = ("SIMULATED fan vibration (ulearn_host.data.fansim): physics-based model of a 5-blade fan "
              "(rotor harmonics, imbalance, blade pass, clogging, bearing friction, gravity, sensor "
              "noise), 3-axis accelerometer at 200 Hz in m/s^2. Generated, not recorded.")

_SPEED = {"on": (15.0, 18.5), "clogged": (12.5, 16.0), "friction": (14.0, 17.5)}  # nominal rotor Hz
_BPF = {"on": (0.02, 0.07), "clogged": (0.12, 0.3), "friction": (0.02, 0.07)}       # blade pass, m/s^2
_RUB = (0.04, 0.1)                                                                   # friction noise, m/s^2


def _band_noise(rng: np.random.Generator, n: int, rate: float, lo: float, hi: float) -> np.ndarray:
    """Unit-rms noise with its power only between lo and hi Hz (synthesised in the frequency domain)."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / rate)
    spec[(f < lo) | (f > hi)] = 0.0
    x = np.fft.irfft(spec, n)
    rms = float(np.sqrt(np.mean(x * x)))
    return x / rms if rms > 0 else x


def class_index(cls: str | int) -> int:
    """Label of a class given by name ("off", "on", "clogged", "friction") or index 0..3."""
    if isinstance(cls, (int, np.integer)):
        if 0 <= int(cls) < len(CLASSES):
            return int(cls)
    elif cls in CLASSES:
        return CLASSES.index(cls)
    raise UlearnError(f"fan-sim has no class {cls!r}; choose one of {', '.join(CLASSES)}")


def _simulate(k: int, n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    cls = CLASSES[k]
    t = np.arange(n) / rate
    fmax = 0.95 * rate / 2
    out = np.zeros((n, 3))

    # Gravity on z, with a mounting tilt of up to 4 degrees.
    tilt, azim = np.deg2rad(rng.uniform(0, 4)), rng.uniform(0, 2 * np.pi)
    out += G * np.array([np.sin(tilt) * np.cos(azim), np.sin(tilt) * np.sin(azim), np.cos(tilt)])

    gain = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    ky, kz = rng.uniform(0.6, 1.0), rng.uniform(0.2, 0.4)

    # Background present in every class: another machine's tone and slow floor sway.
    f_bg = rng.uniform(5.0, 60.0)
    a_bg = rng.uniform(0.004, 0.015)
    bg_axes = rng.uniform(0.3, 1.0, 3)
    out += a_bg * np.outer(np.sin(2 * np.pi * f_bg * t + rng.uniform(0, 2 * np.pi)), bg_axes)
    out += 0.004 * np.stack([_band_noise(rng, n, rate, 0.1, 2.0) for _ in range(3)], axis=1)

    if cls != "off":
        lo, hi = _SPEED[cls]
        f0 = rng.uniform(lo, hi)
        wob_a = rng.uniform(0.003, 0.01) if cls != "friction" else rng.uniform(0.01, 0.025)
        jit = rng.uniform(0.001, 0.004) if cls != "friction" else rng.uniform(0.006, 0.015)
        rel = (wob_a * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 2 * np.pi))
               + jit * _band_noise(rng, n, rate, 0.05, 3.0 if cls != "friction" else 8.0))
        f_inst = f0 * (1.0 + rel)
        phi = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(f_inst) / rate
        f_top = float(f_inst.max())

        def rotating(mult: float, amp: np.ndarray | float, phase: float, axial: float) -> None:
            if mult * f_top >= fmax:
                return  # above the anti-alias band: not generated
            a = mult * phi + phase
            out[:, 0] += gain * amp * np.cos(a)
            out[:, 1] += gain * amp * ky * np.sin(a)
            out[:, 2] += gain * amp * axial * np.cos(a + 0.7)

        imbalance = rng.uniform(0.08, 0.25)
        rotating(1, imbalance, rng.uniform(0, 2 * np.pi), kz)
        rotating(2, rng.uniform(0.02, 0.07), rng.uniform(0, 2 * np.pi), 2 * kz)
        rotating(3, rng.uniform(0.01, 0.035), rng.uniform(0, 2 * np.pi), kz)
        if cls == "clogged":
            unsteady = 1.0 + rng.uniform(0.3, 0.6) * np.sin(2 * np.pi * rng.uniform(0.5, 3.0) * t
                                                          + rng.uniform(0, 2 * np.pi))
            rotating(BLADES, rng.uniform(*_BPF[cls]) * unsteady, rng.uniform(0, 2 * np.pi), 1.5 * kz)
            turb = rng.uniform(0.02, 0.06) * gain
            out += turb * np.stack([_band_noise(rng, n, rate, 3.0, 12.0) for _ in range(3)], axis=1) \
                * np.array([1.0, ky, 0.5])
        else:
            rotating(BLADES, rng.uniform(*_BPF[cls]), rng.uniform(0, 2 * np.pi), 1.5 * kz)
        if cls == "friction":
            cage = 0.4
            for parent, pamp in ((1, imbalance), (BLADES, 0.05)):
                for side in (-cage, cage):
                    rotating(parent + side, rng.uniform(0.25, 0.5) * pamp, rng.uniform(0, 2 * np.pi), kz)
            rub = rng.uniform(*_RUB) * gain * (1.0 + rng.uniform(0.5, 0.9) * np.cos(phi))
            # The once-per-revolution modulation spreads the band by +-f_r: keep its top below fmax.
            hi_f = min(90.0, fmax - 1.05 * f_top)
            out += rub[:, None] * np.stack([_band_noise(rng, n, rate, 25.0, hi_f) for _ in range(3)], axis=1) \
                * np.array([1.0, ky, 0.6])

    out += NOISE_RMS * rng.standard_normal((n, 3))
    out = np.clip(np.round(out / LSB) * LSB, -FULL_SCALE, FULL_SCALE)
    return out.astype(np.float32)


def simulate(cls: str | int, seconds: float, seed: int = 0, rate_hz: float = RATE_HZ) -> np.ndarray:
    """One continuous SIMULATED recording of the fan in state `cls`.

    cls: "off", "on", "clogged", "friction" (or 0..3). seconds: duration (> 0). seed: the same seed
    gives the same samples. rate_hz: sample rate (200 Hz is what the dataset uses).
    Returns float32 (round(seconds * rate_hz), 3): acceleration x, y, z in m/s^2 (gravity on z).
    """
    k = class_index(cls)
    n = round(seconds * rate_hz)
    if n < 2 or rate_hz <= 0:
        raise UlearnError(f"fan-sim: need seconds > 0 and rate_hz > 0 giving at least 2 samples, "
                          f"got {seconds} s at {rate_hz} Hz")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xFA9, k]))
    return _simulate(k, n, rate_hz, rng)


def windows(recording: np.ndarray, length: int = WINDOW, hop: int | None = None) -> np.ndarray:
    """Cut a (N, C) recording into float32 windows (W, length, C); hop defaults to length (no overlap)."""
    hop = hop or length
    if recording.ndim != 2 or len(recording) < length:
        raise UlearnError(f"windows: need a (N, C) recording with N >= {length}, got {recording.shape}")
    starts = range(0, len(recording) - length + 1, hop)
    return np.stack([recording[s:s + length] for s in starts]).astype(np.float32)


def _split(seed: int, which: int, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    n = round(RECORDING_SECONDS * RATE_HZ)
    xs, ys = [], []
    for k in range(len(CLASSES)):
        for r in range(per_class):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDA7A, which, k, r]))
            w = windows(_simulate(k, n, RATE_HZ, rng))
            xs.append(w)
            ys.append(np.full(len(w), k, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def load(seed: int = 0) -> Dataset:
    """The SIMULATED fan dataset: (n, 128, 3) float32 windows in m/s^2 at 200 Hz, labels 0..3.

    64 recordings per class for training and 24 other recordings per class for testing, each
    1.92 s cut into 3 windows: 768 train and 288 test windows. Every recording draws its own fan
    (speed, mounting, amplitudes), so the test accuracy is what a model does on fans it has not
    met. Deterministic given `seed`.
    """
    X, y = _split(seed, 0, TRAIN_RECORDINGS)
    X_te, y_te = _split(seed, 1, TEST_RECORDINGS)
    return Dataset(name="fan-sim", X=X, y=y, X_test=X_te, y_test=y_te, classes=list(CLASSES),
                   channels=list(CHANNELS), rate_hz=RATE_HZ, simulated=True,
                   provenance=PROVENANCE + f" Seed {seed}; train and test windows come from different "
                   "recordings.", kind="timeseries", units="m/s^2",
                   extra={"blades": BLADES, "window": WINDOW}).validate()
