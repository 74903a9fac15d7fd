"""The device int8 runtime (lib/ulearn/nn) equals the numpy reference, every int8 byte, for every
layer type and whole models: under CPython (in process) and inside MicroPython (source and .mpy),
through ulearn.load of .mpy / .ulb files and ulearn.nn.load_raw; and for every backend present."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest
from ulearn_host import unixport
from ulearn_host.nn import cases, export, reference

ALL = [*cases.LAYER_CASES, *cases.MODEL_CASES]
SEEDS = (0, 1)


def _vectors():
    for name in ALL:
        for seed in SEEDS:
            model = cases.build(name, seed)
            xs = cases.inputs(model, 3, seed)
            yield f"{name}-{seed}", model, xs, reference.run_batch(model, xs)


@pytest.fixture(scope="module")
def vectors():
    return list(_vectors())


def test_cpython_runtime_equals_reference(vectors):
    from array import array

    import ulearn
    for label, model, xs, ys in vectors:
        m = ulearn.load(export.to_blob(model))
        out = array("b", bytes(ys[0].size))
        for x, y in zip(xs, ys, strict=True):
            cls = m.predict(array("b", x.tobytes()), out)
            assert bytes(out) == y.astype(np.int8).tobytes(), label
            assert cls == int(np.argmax(y.reshape(-1))), label


def _device_script(files: list[str], loader: str) -> str:
    return f"""
import ulearn, ulearn.nn, struct
from array import array
for name in {files!r}:
    m = {loader}
    io = open(name + '.io', 'rb').read()
    n, ni, no = struct.unpack_from('<HHH', io, 0)
    out = array('b', bytes(no))
    p = 6
    res = []
    for i in range(n):
        x = array('b', io[p:p + ni])
        p += ni
        cls = m.predict(x, out)
        res.append(bytes(out).hex() + ':' + str(cls))
        p += no
    print('R', name, ' '.join(res), m.info()['weights_copied'])
"""


def _expected(vectors):
    exp = {}
    for label, _, _, ys in vectors:
        exp[label] = " ".join(y.astype(np.int8).tobytes().hex() + ":" + str(int(np.argmax(y.reshape(-1))))
                              for y in ys)
    return exp


def _write(tmp_path, vectors, mpy: bool):
    for label, model, xs, _ in vectors:
        export.save(model, tmp_path / (label + (".mpy" if mpy else ".ulb")))
        (tmp_path / (label + ".io")).write_bytes(cases.io_bytes(model, xs))


def _check(stdout: str, vectors, copied: str | None):
    exp = _expected(vectors)
    got = {}
    for line in stdout.splitlines():
        if line.startswith("R "):
            _, name, rest = line.split(" ", 2)
            res, flag = rest.rsplit(" ", 1)
            got[name] = res
            assert copied is None or flag == copied, (name, flag)
    assert set(got) == set(exp)
    bad = [k for k in exp if got[k] != exp[k]]
    assert not bad, f"not bit-exact: {bad}"


@pytest.mark.parametrize("compiled", [False, True], ids=["source", "mpy"])
def test_micropython_mpy_model_files_equal_reference(tmp_path, vectors, compiled):
    _write(tmp_path, vectors, mpy=True)
    labels = [v[0] for v in vectors]
    code = _device_script(labels, "ulearn.load(name + '.mpy')")
    result = unixport.run(code, compiled=compiled, cwd=tmp_path, env=_env("python"))
    _check(result.stdout, vectors, None)  # bytes constants: weights copied once into int8


def test_micropython_load_raw_keeps_weights_in_place(tmp_path, vectors):
    _write(tmp_path, vectors, mpy=False)
    labels = [v[0] for v in vectors]
    code = _device_script(labels, "ulearn.nn.load_raw(name + '.ulb')")
    result = unixport.run(code, cwd=tmp_path, env=_env("python"))
    _check(result.stdout, vectors, "False")


def _env(backend: str) -> dict:
    import os
    env = dict(os.environ)
    env["ULEARN_BACKEND"] = backend
    if backend == "ulab":
        from ulearn_host.bench.nn_speed import ulab_micropython
        exe = ulab_micropython()
        if exe is None:
            pytest.skip("no ulab-enabled MicroPython: run make ulab-micropython MPY_DIR=... (.cache/micropython-ulab) "
                        "or set ULEARN_MICROPYTHON")
        env["ULEARN_MICROPYTHON"] = str(exe)
    return env


@pytest.mark.parametrize("backend", ["viper", "native", "ulab"])
def test_other_backends_equal_reference(tmp_path, vectors, backend, monkeypatch):
    from ulearn_host.bench.nn_speed import native_path
    extra = native_path(tmp_path)
    env = _env(backend)
    if "ULEARN_MICROPYTHON" in env:  # unixport picks the interpreter from the process environment
        monkeypatch.setenv("ULEARN_MICROPYTHON", env["ULEARN_MICROPYTHON"])
    probe = unixport.run(f"import sys, ulearn\nsys.modules['ulearn.backend'].select({backend!r})\nprint('OK')",
                         check=False, env={**_env(backend), "ULEARN_BACKEND": "python"}, path=extra)
    if "OK" not in probe.stdout:
        line = (probe.stdout + probe.stderr).strip().splitlines()
        pytest.skip(f"backend {backend} not available in MicroPython here: {line[-1] if line else '?'}")
    _write(tmp_path, vectors, mpy=False)
    labels = [v[0] for v in vectors]
    code = _device_script(labels, "ulearn.nn.load_raw(name + '.ulb')")
    # ulab computes in float blocks it allocates per call: give it room (the others need no heap)
    result = unixport.run(code, cwd=tmp_path, env=env, path=extra, heap="2m" if backend == "ulab" else "256k")
    _check(result.stdout, vectors, "False")


def test_blob_round_trip_host_reader(vectors):
    for label, model, xs, ys in vectors:
        blob = export.to_blob(model)
        back = export.from_blob(blob)
        assert export.to_blob(back) == blob, label
        assert np.array_equal(reference.run_batch(back, xs), ys), label
        for a, b in zip(model.layers, back.layers, strict=True):
            assert (a.op, tuple(a.input_shape), tuple(a.output_shape)) == (b.op, tuple(b.input_shape),
                                                                           tuple(b.output_shape))
            assert (a.act_min, a.act_max, a.padding, a.kernel, a.stride, a.dilation) == \
                (b.act_min, b.act_max, b.padding, b.kernel, b.stride, b.dilation)
            for f in ("weights", "bias", "multiplier", "shift"):
                va, vb = getattr(a, f), getattr(b, f)
                assert (va is None) == (vb is None) and (va is None or np.array_equal(va, vb)), (label, f)


def test_meta_and_sizes():
    model = cases.build("fan")
    blob = export.to_blob(model)
    from ulearn.blob import Blob
    meta = Blob(blob).meta()
    assert meta["params"] == model.params() and meta["macs"] == model.macs()
    data = sum(int(np.asarray(layer.weights).size) for layer in model.layers if layer.weights is not None)
    assert len(blob) < data * 1.1 + 2048
    json.dumps(meta)
    assert struct.unpack_from("<4s", blob, 0)[0] == b"ULRN"
    assert sys.getsizeof(blob) > 0
