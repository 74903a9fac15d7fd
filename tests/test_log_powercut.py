"""Power cut while logging: a MicroPython process running the data_logger app (LIS3DH stand-in,
real-time) is killed with SIGKILL; the log it leaves is read back on the host with ulearn.log.

What the test demands: every block the app reported as written is readable, the sequence has no
holes and no corrupt records, and at most the block being filled (plus one being written) is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from ulearn import log
from ulearn_host import boards, unixport

LOGGER = """
import sys
from ulearn import log
from data_logger.main import open_sensor
from ulearn.sensors.ring import Ring
from ulearn.sensors.sampler import Sampler
prof = {prof!r}
s = open_sensor(prof)
sp = Sampler(s, Ring(128, 3))
w = log.Writer("logs", s.rate_hz, 3, s.scale, "g", samples_per_record=16, records_per_block=2,
               max_file_bytes=4096)
sp.start()
done = 0
while True:
    n = sp.poll()
    if n:
        w.append(sp.raw, n)
        if w.records != done:
            done = w.records
            sys.stdout.write("written %d\\n" % done)
"""


def test_kill_while_logging_loses_at_most_the_open_block(tmp_path):
    prof = boards.load("unix")
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(str(p) for p in unixport.device_path(False, boards.device_sim_path()))
    proc = subprocess.Popen([unixport.micropython_exe(), "-c", LOGGER.format(prof=prof)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    written = 0
    deadline = time.monotonic() + 30
    while written < 40 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        written = int(line.split()[1])
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert written >= 40, proc.stderr.read()
    header, records, reports = log.read_all(str(tmp_path / "logs"))
    seqs = [s for s, _ in records]
    assert seqs == list(range(len(seqs)))                       # no holes, in order across rotations
    assert len(seqs) >= written                                 # everything reported written survived
    assert all(r["corrupt"] == 0 for r in reports)
    assert len(log.list_files(str(tmp_path / "logs"))) > 1      # it rotated
    assert header.rate_hz == 200 and header.unit == "g"
    # a restart continues the sequence in a new file
    w = log.Writer(str(tmp_path / "logs"), 200, 3, header.scale, "g", samples_per_record=16)
    assert w.seq == seqs[-1] + 1 and w.number == log.list_files(str(tmp_path / "logs"))[-1][0]
