"""fan_monitor live on the virtual board: the LIS3DH stand-in (simulated vibration, real time) feeds
the sensor layer, the app prints one state with its confidence per window."""

from pathlib import Path

from ulearn_host import boards, unixport

MODEL = Path(__file__).parent / "device" / "nn_data" / "fan.ulb"


def test_live_sensor_windows_are_classified(tmp_path):
    prof = boards.load("unix")
    code = (f"from fan_monitor.main import main\n"
            f"r = main({str(MODEL)!r}, profile={prof!r}, seconds=1.6)\n"
            f"print('WINDOWS', len(r))\n")
    out = unixport.run(code, cwd=tmp_path, path=boards.device_sim_path()).stdout
    states = [ln.split() for ln in out.splitlines() if ln.startswith("fan_monitor: ")]
    count = int(next(ln.split()[1] for ln in out.splitlines() if ln.startswith("WINDOWS")))
    assert count == len(states) >= 2, out
    for _, state, conf in states:
        assert state in ("off", "on", "clogged", "friction")
        assert 0.0 <= float(conf) <= 1.0
