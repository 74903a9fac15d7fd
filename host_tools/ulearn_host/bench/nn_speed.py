"""`ulearn bench nn` (speed part): the int8 CNN runtime inside MicroPython, per backend.

For the fan-shaped network (conv1d on 128x3 windows, ~10.5 K params, ~52 K MACs; random weights,
simulated: not trained) and a digits-shaped conv2d network it prints per-layer MACs and time, the
backend used, µs per inference for every backend this interpreter has (python, viper, native), the
speed-up over the pure-Python backend measured in the SAME MicroPython process, and the heap of load
and inference (retained bytes; the smallest of 64/72/80/96/128 KB heaps in which a fresh process
loads and runs it). Never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from .. import REPO_ROOT, unixport
from ..errors import UlearnError
from ..nn import cases, export, synth

BACKENDS = ("python", "viper", "native")
SHOWN = ("python", "viper", "ulab", "native")
TARGETS_US = {"python": 5000.0, "viper": 500.0, "native": 22.0}

_SPEED = r"""
import gc, json, time, sys
from array import array
import ulearn, ulearn.nn
from ulearn.nn.format import OP_RESHAPE
from ulearn.nn.model import run_layer
backend = sys.modules['ulearn.backend']
REPEAT = {repeat}
ROUNDS = 5
res = {{}}
for name in {names!r}:
    m = ulearn.nn.load_raw(name + '.ulb')
    x = array('b', open(name + '.x', 'rb').read())
    entry = {{'backends': {{}}, 'layers': [], 'arena_bytes': m.arena_bytes, 'params': m.params, 'macs': m.macs}}
    for b in {backends!r}:
        try:
            backend.select(b)
        except ValueError as e:
            entry['backends'][b] = {{'error': str(e)}}
            continue
        m.predict(x)
        us = 1e9
        for _ in range(ROUNDS):  # the best round: the host is shared, other work only adds time
            t = time.ticks_us()
            for _ in range(REPEAT):
                m.predict(x)
            us = min(us, time.ticks_diff(time.ticks_us(), t) / REPEAT)
        layer_us = []
        src = x
        for op, p in m.records():
            best = 1e9
            for _ in range(ROUNDS):
                t = time.ticks_us()
                for _ in range(REPEAT):
                    run_layer(m, p, src)
                best = min(best, time.ticks_diff(time.ticks_us(), t) / REPEAT)
            layer_us.append(best)
            if op != OP_RESHAPE:  # a reshape passes its input on
                src = m._arena
        entry['backends'][b] = {{'us': us, 'layer_us': layer_us, 'output': bytes(m.output).hex()}}
    entry['layers'] = [l[0] for l in m.info()['layers']]
    res[name] = entry
print('RESULT ' + json.dumps(res))
"""

_HEAP = r"""
import gc, json, sys
from array import array
import ulearn, ulearn.nn, ulearn.nn.model, ulearn.blob
gc.collect()
base = gc.mem_alloc()
m = {loader}
gc.collect()
loaded = gc.mem_alloc() - base
x = array('b', open('{name}.x', 'rb').read())
m.predict(x)
gc.collect()
after = gc.mem_alloc() - base
try:  # a second model shows the per-model heap without one-time costs (interned names, imports)
    b2 = gc.mem_alloc()
    m2 = {loader}
    gc.collect()
    again = gc.mem_alloc() - b2
except (MemoryError, ValueError):
    again = None
print('RESULT ' + json.dumps({{'loaded': loaded, 'after_inference': after, 'another_model': again, 'code': base,
      'arena': m.arena_bytes, 'copied': m.weights_copied,
      'backend': sys.modules['ulearn.backend'].NAME}}))
"""

HEAPS = ("64k", "72k", "80k", "96k", "128k")


def native_path(tmp: Path) -> list[Path]:
    """MicroPython path entries holding a built x64 `ulearn_native.mpy` (from device/native/dist or
    device/native/build, or $ULEARN_NATIVE_MPY), copied into `tmp`; [] when none is built."""
    import os
    import shutil
    root = REPO_ROOT / "device" / "native"
    found = [Path(os.environ["ULEARN_NATIVE_MPY"])] if os.environ.get("ULEARN_NATIVE_MPY") else []
    found += sorted(root.glob("dist/x64_*/ulearn_native.mpy")) + sorted(root.glob("build/x64/ulearn_native*.mpy"))
    for module in found:
        if module.is_file():
            folder = tmp / "native"
            folder.mkdir(exist_ok=True)
            shutil.copy(module, folder / "ulearn_native.mpy")
            return [folder]
    return []


def ulab_micropython() -> Path | None:
    """A ulab-enabled MicroPython unix build ($ULEARN_MICROPYTHON, else .cache/micropython-ulab), or None."""
    import os
    exe = Path(os.environ.get("ULEARN_MICROPYTHON") or unixport.CACHE_DIR / "micropython-ulab" / "micropython")
    return exe if exe.is_file() else None


def _result(stdout: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise UlearnError(f"MicroPython benchmark printed no result:\n{stdout}")


def _run(code: str, cwd: Path, heap: str, compiled: bool, backend: str | None = None,
         exe: Path | None = None) -> tuple[dict, bool]:
    import os
    path = native_path(cwd)
    env = dict(os.environ)
    env.pop("ULEARN_BACKEND", None)
    if backend:
        env["ULEARN_BACKEND"] = backend
    saved = os.environ.get("ULEARN_MICROPYTHON")
    if exe is not None:  # unixport picks the interpreter from the process environment
        os.environ["ULEARN_MICROPYTHON"] = env["ULEARN_MICROPYTHON"] = str(exe)
    try:
        try:
            result = unixport.run(code, cwd=cwd, heap=heap, compiled=compiled, path=path, env=env)
            return _result(result.stdout), compiled
        except UlearnError as e:
            if not compiled or "mpy-cross failed" not in str(e):
                raise
            print(f"(could not compile lib/ to .mpy: {str(e).splitlines()[0][:120]}; measuring from source)")
            result = unixport.run(code, cwd=cwd, heap=heap, compiled=False, path=path, env=env)
            return _result(result.stdout), False
    finally:
        if exe is not None:
            if saved is None:
                os.environ.pop("ULEARN_MICROPYTHON", None)
            else:
                os.environ["ULEARN_MICROPYTHON"] = saved


def run(args: argparse.Namespace | None = None) -> dict:
    """Measure, print a table, return the numbers as a dict."""
    quick = bool(getattr(args, "quick", False))
    repeat = 10 if quick else 50  # per round; the best of 5 rounds is reported
    models = {"fan": synth.fan_model(seed=3), "digits": cases.build("digits", seed=0)}
    out: dict = {"models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, model in models.items():
            blob = export.to_blob(model)
            (folder / f"{name}.ulb").write_bytes(blob)
            export.save(model, folder / f"{name}.mpy")
            (folder / f"{name}.x").write_bytes(cases.inputs(model, 3, seed=1)[2].tobytes())
            out["models"][name] = {"blob_bytes": len(blob), "params": model.params(), "macs": model.macs(),
                                   "layer_macs": [layer.macs() for layer in model.layers],
                                   "bytes_per_param": len(blob) / model.params()}
        speed, compiled = _run(_SPEED.format(repeat=repeat, names=list(models), backends=list(BACKENDS)),
                               folder, "2m", True)
        out["compiled"] = compiled
        for name in models:
            out["models"][name].update(speed[name])
        exe = ulab_micropython()
        if exe is not None:  # ulab needs its own interpreter: compared with python in that process
            try:
                u, _ = _run(_SPEED.format(repeat=repeat, names=list(models), backends=["python", "ulab"]),
                            folder, "2m", compiled, exe=exe)
                for name in models:
                    ub = u[name]["backends"]
                    if "us" in ub.get("ulab", {}) and "us" in ub.get("python", {}):
                        ub["ulab"]["vs_python_same_process"] = ub["python"]["us"] / ub["ulab"]["us"]
                    out["models"][name]["backends"]["ulab"] = ub.get("ulab", {"error": "?"})
            except UlearnError as e:
                for name in models:
                    out["models"][name]["backends"]["ulab"] = {"error": str(e).splitlines()[-1][:100]}
        else:
            for name in models:
                out["models"][name]["backends"]["ulab"] = {
                    "error": "no ulab interpreter (.cache/micropython-ulab/micropython or $ULEARN_MICROPYTHON)"}
        heap = {}
        raw, mpy = "ulearn.nn.load_raw('fan.ulb')", "ulearn.load('fan.mpy')"
        for label, loader, backend in (("raw .ulb (load_raw), python backend", raw, "python"),
                                       ("raw .ulb (load_raw), default backend", raw, None),
                                       (".mpy module, default backend", mpy, None)):
            tried = []
            for size in HEAPS:
                try:
                    heap[label], _ = _run(_HEAP.format(loader=loader, name="fan"), folder, size, compiled, backend)
                    heap[label]["heap"] = size
                    heap[label]["failed_in"] = tried
                    if heap[label]["another_model"] is None:
                        roomy, _ = _run(_HEAP.format(loader=loader, name="fan"), folder, "256k", compiled, backend)
                        heap[label]["another_model"] = roomy["another_model"]
                    break
                except UlearnError as e:
                    tried.append(f"{size}: {str(e).strip().splitlines()[-1][:90]}")
            else:
                heap[label] = {"error": "; ".join(tried)}
        out["heap"] = heap
    _print(out)
    return out


def _print(out: dict) -> None:
    print(f"int8 CNN in MicroPython ({'lib as .mpy' if out['compiled'] else 'lib from source'}; "
          "random weights, simulated)")
    for name, m in out["models"].items():
        ok = {b: m["backends"][b] for b in SHOWN if "us" in m["backends"].get(b, {})}
        print(f"\n{name}: {m['params']} params, {m['macs']} MACs, blob {m['blob_bytes']} B "
              f"({m['bytes_per_param']:.3f} B/param), arena {m['arena_bytes']} B")
        head = f"  {'layer':<18}{'MACs':>8}" + "".join(f"{b + ' µs':>14}" for b in ok)
        print(head)
        for i, op in enumerate(m["layers"]):
            row = f"  {op:<18}{m['layer_macs'][i]:>8}" + "".join(f"{v['layer_us'][i]:>14.1f}" for v in ok.values())
            print(row)
        base = ok.get("python", {}).get("us")
        for b in SHOWN:
            v = m["backends"].get(b, {})
            if "us" not in v:
                print(f"  {b:<8} not available: {v.get('error', '?')}")
                continue
            ratio = f"{base / v['us']:.1f}x vs python" if base else ""
            if "vs_python_same_process" in v:  # ulab: its own interpreter
                ratio = f"{v['vs_python_same_process']:.1f}x vs python*"
            same = "" if v["output"] == ok[next(iter(ok))]["output"] else "  OUTPUT DIFFERS"
            target = f"(target {TARGETS_US[b]:.0f} µs)" if name == "fan" and b in TARGETS_US else ""
            print(f"  {b:<8} {v['us']:>10.1f} µs/inference  {ratio:<16}{target}{same}")
    fan = out["models"]["fan"]
    print("\n* ulab runs in the ulab-enabled interpreter; its ratio is against python in that process")
    for label, h in out["heap"].items():
        if "error" in h:
            print(f"\nfan, {label}: did not load in any heap tried: {h['error']}")
            continue
        print(f"\nfan, {label}: smallest heap tried that works {h['heap']} (backend {h['backend']}; "
              f"failed in: {', '.join(x.split(':')[0] for x in h['failed_in']) or '-'})")
        print(f"  code and runtime before load {h['code']} B; model retained after load {h['loaded']} B, "
              f"after inference {h['after_inference']} B; another model {h['another_model'] or '(no room)'} B")
        print(f"  blob {fan['blob_bytes']} + arena {h['arena']} = {fan['blob_bytes'] + h['arena']} B; "
              f"weights copied: {h['copied']}")
        if h["another_model"]:  # the model's own heap: no library code, no names interned once
            print(f"  the model's own heap (another model) = blob + arena "
                  f"{h['another_model'] - fan['blob_bytes'] - h['arena']:+d} B")


if __name__ == "__main__":
    run(argparse.Namespace(quick=True))
