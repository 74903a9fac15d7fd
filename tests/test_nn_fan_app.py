"""fan_monitor end to end on the simulated fan data (fan-sim, labelled simulated): a CNN trained for
a few epochs, the test windows replayed as int16 sensor counts through the app inside MicroPython
(Ring -> Windows -> integer edge quantization -> int8 CNN), compared with the host reference on the
same windows."""

from __future__ import annotations

import numpy as np
import pytest

from ulearn_host import unixport
from ulearn_host.nn import export

G = 9.80665
SCALE = 4 * G / 32768  # m/s^2 per count of a +-4 g accelerometer (fan-sim is in m/s^2)


@pytest.fixture(scope="module")
def trained():
    from ulearn_host.data import load_dataset
    from ulearn_host.train import cnn
    ds = load_dataset("fan-sim")
    return cnn.train_dataset(ds, epochs=2, name="fan"), ds


def test_replayed_windows_match_host_reference(tmp_path, trained):
    from ulearn_host.nn import reference
    t, ds = trained
    model = t.model
    export.save(model, tmp_path / "fan.mpy")
    counts = np.clip(np.round(ds.X_test / SCALE), -32768, 32767).astype("<i2")
    (tmp_path / "fan.raw").write_bytes(counts.tobytes())
    code = ("from fan_monitor.main import main\n"
            f"r = main('fan.mpy', replay='fan.raw', scale={SCALE!r}, unit='m/s^2', hop=128, quiet=True)\n"
            "print('STATES', ' '.join(s for s, c in r))\n"
            "print('CONF', ' '.join('%.4f' % c for s, c in r))\n")
    out = unixport.run(code, cwd=tmp_path).stdout
    states = next(ln for ln in out.splitlines() if ln.startswith("STATES")).split()[1:]
    confs = [float(v) for v in next(ln for ln in out.splitlines() if ln.startswith("CONF")).split()[1:]]
    assert len(states) == len(ds.X_test)
    assert all(0.0 <= c <= 1.0 for c in confs)
    device = np.array([list(ds.classes).index(s) for s in states])
    host = reference.run_batch(model, model.quantize_input(counts.astype(np.float32) * np.float32(SCALE)))
    host = host.reshape(len(counts), -1).argmax(1)
    agree = float((device == host).mean())
    acc_device = float((device == ds.y_test).mean())
    acc_host = float((host == ds.y_test).mean())
    print(f"fan_monitor on {len(states)} simulated test windows: agreement with the host {agree:.3f}, "
          f"accuracy device {acc_device:.3f}, host {acc_host:.3f} (int8 on float windows {t.int8_accuracy:.3f})")
    assert agree >= 0.98
    assert abs(acc_device - acc_host) <= 0.02


def test_model_records_its_input_unit_and_the_app_converts(trained):
    """fan-sim is in m/s^2; a LIS3DH gives g: the blob says which, and the app converts."""
    t, ds = trained
    assert ds.units == "m/s^2" and t.model.input_unit == "m/s^2"
    out = unixport.run("import sys\nsys.path.append('.')\nfrom fan_monitor.main import unit_factor\n"
                       "print(unit_factor('g', 'm/s^2'), unit_factor('g', ''), unit_factor('g', 'g'))\n"
                       "try:\n unit_factor('V', 'm/s^2')\nexcept ValueError as e:\n print('ERR', e)\n").stdout
    assert [float(v) for v in out.splitlines()[0].split()] == pytest.approx([9.80665, 1.0, 1.0])
    assert "ERR the model's input is in m/s^2 but the sensor gives V" in out
