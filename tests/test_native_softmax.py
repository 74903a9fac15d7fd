"""ulearn_native.softmax_s8 (the C int8 softmax) inside MicroPython: the natmod and the firmware user C
module against lib/ulearn's Python softmax, its argument checks, no allocation, and the runtime using it."""

from __future__ import annotations

import pytest

from ulearn_host import REPO_ROOT, unixport

DEVICE_TESTS = REPO_ROOT / "tests" / "device"
FIRMWARE = REPO_ROOT / ".cache" / "micropython-native" / "micropython"

# random rows (lengths 1..64, all equal, extremes) and the parameters the loader accepts, in MicroPython
_CHECK = """
from array import array
import ulearn_native as nat
from ulearn.nn._softmax import softmax
from devtest import allocated
seed = [12345]
def rnd(n):
    seed[0] = (seed[0] * 1103515245 + 12345) & 0x7FFFFFFF
    return seed[0] % n
rows = 0
for case in range(400):
    n = 1 + case % 64
    kind = rnd(5)
    if kind == 0:
        v = rnd(256) - 128
        x = [v] * n
    elif kind == 1:
        x = [127 if rnd(2) else -128 for _ in range(n)]
    else:
        x = [rnd(256) - 128 for _ in range(n)]
    ls = rnd(31)
    mult = (1 << 30) + rnd(1 << 30) if rnd(4) else rnd(1 << 31)
    dmin = -rnd(257)
    xa = array('b', [9, 9] + x)
    g = array('h', [0, 0, 0, 0, 2, 1, n, 1, ls, dmin])
    q = array('i', [0, mult])
    want = array('b', [55] * (n + 1))
    got = array('b', [55] * (n + 1))
    softmax(xa, want, q, g, 4)
    nat.softmax_s8(xa, got, q, g, 4)
    assert got == want, (x, mult, ls, dmin)
    nat.softmax_s8(xa, xa, q, array('i', [2, 2, n, 1, ls, dmin]), 0)   # in place
    assert xa[2:] == want[1:], (x, mult, ls, dmin)
    rows += 1
print('rows', rows)
x = array('b', range(-60, 60)); out = array('b', bytes(120))
q = array('i', [1518500224]); g = array('h', [0, 0, 120, 0, 22, -31])
print('alloc', allocated(lambda: nat.softmax_s8(x, out, q, g, 0), 50))
def expect(fn, text):
    try:
        fn()
    except ValueError as e:
        assert text in str(e), str(e)
        print('ok', str(e))
        return
    raise AssertionError('accepted: ' + text)
def sm(x=x, act=out, q=q, words=(0, 0, 4, 0, 22, -31), p=0, tc='h'):
    nat.softmax_s8(x, act, q, array(tc, words), p)
expect(lambda: sm(x=bytearray(4)), "x: typecode")
expect(lambda: sm(act=array('h', [0] * 4)), "act: typecode")
expect(lambda: sm(q=array('b', [1])), "q: typecode")
expect(lambda: sm(words=(118, 0, 4, 0, 22, -31)), "x: too short")
expect(lambda: sm(words=(0, 118, 4, 0, 22, -31)), "act (out): too short")
expect(lambda: sm(words=(0, 0, 4, 1, 22, -31)), "q (mult): too short")
expect(lambda: sm(words=(0, 0, 4096, 0, 22, -31)), "n (softmax length)")
expect(lambda: sm(words=(0, 0, 4, 0, -1, -31)), "left_shift")
expect(lambda: sm(words=(0, 0, 4, 0, 31, -31)), "left_shift")
expect(lambda: sm(words=(0, 0, 4, 0, 22, 1)), "diff_min")
expect(lambda: sm(q=array('i', [-5])), "q (mult): negative")
expect(lambda: sm(act=x, words=(0, 2, 4, 0, 22, -31)), "overlaps the input")
expect(lambda: sm(p=1), "g (program): too short")
"""


def _run(**kw) -> str:
    return unixport.run(_CHECK, path=[DEVICE_TESTS], **kw).stdout


def _check(out: str) -> None:
    assert "rows 400" in out and "alloc 0" in out, out
    assert out.count("ok ") == 13, out


def test_natmod_softmax_equals_python_softmax(tmp_path):
    from test_native_natmod import build_natmod
    import shutil
    shutil.copy(build_natmod("x64"), tmp_path / "ulearn_native.mpy")
    _check(unixport.run(_CHECK, path=[tmp_path, DEVICE_TESTS]).stdout)


def test_firmware_softmax_equals_python_softmax():
    if not FIRMWARE.exists():
        pytest.skip("no firmware with the user C module: make native-firmware MPY_DIR=/work/ext/micropython")
    _check(_run(micropython=str(FIRMWARE)))


def test_runtime_uses_the_c_softmax_with_the_native_backend(tmp_path):
    # a model ending in a 10-way softmax (host_tools cases "softmax", random weights, simulated inputs):
    # with the native backend its softmax layer is ulearn_native.softmax_s8, the predicted int8 scores
    # are the host reference's, and predict allocates nothing
    import shutil

    from test_native_natmod import build_natmod
    from ulearn_host.nn import cases, export, reference
    shutil.copy(build_natmod("x64"), tmp_path / "ulearn_native.mpy")
    model = cases.build("softmax", 3)
    xs = cases.inputs(model, 4, 3)
    want = reference.run_batch(model, xs)
    (tmp_path / "m.ulb").write_bytes(export.to_blob(model))
    rows = ",".join("array('b', %r)" % [int(v) for v in x.reshape(-1)] for x in xs)
    code = f"""
from array import array
import ulearn, ulearn_native
from ulearn import backend
from ulearn.nn import model as M
from devtest import allocated
m = ulearn.load({str(tmp_path / "m.ulb")!r})
out = array('b', bytes({int(want[0].size)}))
for x in [{rows}]:
    m.predict(x, out)
    print(list(out))
print(backend.NAME, M._native_softmax is ulearn_native.softmax_s8)
print('alloc', allocated(lambda: m.predict(x, out), 20))
"""
    lines = unixport.run(code, path=[tmp_path, DEVICE_TESTS]).stdout.split("\n")
    for i, w in enumerate(want):
        assert lines[i] == str([int(v) for v in w.reshape(-1)]), (i, lines)
    assert lines[len(want)] == "native True" and lines[len(want) + 1] == "alloc 0", lines
