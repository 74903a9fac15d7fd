"""BasicMotions (UEA multivariate archive): smartwatch accelerometer + gyroscope, 4 activities.

Real recorded data. Four students wore a smart watch and performed four activities (standing,
walking, running, badminton) five times each; every case is 10 s sampled at 10 Hz (100 samples)
of a 3-axis accelerometer and a 3-axis gyroscope. 40 train + 40 test cases, 10 per class in each.

The files are the sktime `.ts` text files of the UEA archive as shipped inside the `aeon==1.6.0`
wheel (BSD-3-Clause) on PyPI. `prepare()` fetches that wheel with `pip download --no-deps` (aeon's
dependencies are never installed), checks the SHA-256 of both files, and extracts them into
`<data_dir>/BasicMotions/`. They are not part of this repository.

Cite: A. Bagnall, H. A. Dau, J. Lines, M. Flynn, J. Large, A. Bostrom, P. Southam, E. Keogh,
"The UEA multivariate time series classification archive, 2018", arXiv:1811.00075.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..errors import UlearnError
from .dataset import Dataset, data_dir

AEON_VERSION = "1.6.0"
WHEEL = f"aeon-{AEON_VERSION}-py3-none-any.whl"
MEMBER = "aeon/datasets/data/BasicMotions/BasicMotions_{split}.ts"
SHA256 = {
    "TRAIN": "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6",
    "TEST": "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc",
}
CLASSES = ["standing", "walking", "running", "badminton"]
CHANNELS = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
RATE_HZ = 10.0
CITATION = ("Bagnall et al., 'The UEA multivariate time series classification archive, 2018', "
            "arXiv:1811.00075")
PROVENANCE = (f"BasicMotions, UEA multivariate time series archive (recorded smartwatch data, "
              f"timeseriesclassification.com); sktime .ts files taken unmodified from the "
              f"aeon=={AEON_VERSION} wheel on PyPI (BSD-3-Clause), SHA-256 checked. Cite: {CITATION}.")


def folder() -> Path:
    """Where the two .ts files live once prepared."""
    return data_dir() / "BasicMotions"


def parse_ts(text: str) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Parse an sktime/UEA `.ts` file of equal-length multivariate series with class labels.

    Returns (X, labels, header): X float32 of shape (n, T, C); labels as written in the file;
    header maps `@` keys (lower case, e.g. "classlabel") to their text. Missing values ("?") and
    time stamps are refused, since BasicMotions has neither.
    """
    header: dict[str, str] = {}
    cases: list[list[list[float]]] = []
    labels: list[str] = []
    in_data = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise UlearnError(f".ts line {lineno}: expected an @keyword before @data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            else:
                header[key] = value.strip()
            continue
        *dims, label = line.split(":")
        if not dims:
            raise UlearnError(f".ts line {lineno}: no ':' between series and class label")
        if "?" in line or "(" in line:
            raise UlearnError(f".ts line {lineno}: missing values or time stamps are not supported")
        try:
            cases.append([[float(v) for v in d.split(",")] for d in dims])
        except ValueError as e:
            raise UlearnError(f".ts line {lineno}: {e}") from e
        labels.append(label.strip())
    if not in_data or not cases:
        raise UlearnError(".ts file has no @data section or no cases")
    shapes = {(len(c), len(c[0])) for c in cases} | {(len(c), len(d)) for c in cases for d in c}
    if len(shapes) != 1:
        raise UlearnError(f".ts file has unequal lengths or dimension counts {sorted(shapes)}")
    X = np.asarray(cases, dtype=np.float32).transpose(0, 2, 1)  # (n, C, T) -> (n, T, C)
    dims_expected = header.get("dimensions")
    if dims_expected is not None and int(dims_expected) != X.shape[2]:
        raise UlearnError(f".ts header says {dims_expected} dimensions, data has {X.shape[2]}")
    return np.ascontiguousarray(X), labels, header


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_prepared() -> bool:
    """True when both .ts files are present with the expected SHA-256."""
    for split, digest in SHA256.items():
        f = folder() / f"BasicMotions_{split}.ts"
        if not f.is_file() or _sha256(f.read_bytes()) != digest:
            return False
    return True


def prepare(wheel: Path | None = None, quiet: bool = False) -> Path:
    """Fetch the aeon wheel (no dependencies) and extract the BasicMotions .ts files; idempotent.

    wheel: an already downloaded aeon-1.6.0 wheel to use instead of asking PyPI.
    Returns the folder holding BasicMotions_TRAIN.ts and BasicMotions_TEST.ts.
    """
    out = folder()
    if is_prepared():
        if not quiet:
            print(f"BasicMotions: already prepared in {out}")
        return out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ulearn-aeon-") as tmp:
        if wheel is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", f"aeon=={AEON_VERSION}", "-d", tmp]
            if not quiet:
                print(f"BasicMotions: pip download --no-deps aeon=={AEON_VERSION} (data files only)")
            r = subprocess.run(cmd, check=False, capture_output=True, text=True)
            if r.returncode != 0:
                raise UlearnError(f"could not download aeon=={AEON_VERSION} from PyPI to get BasicMotions "
                                  f"({r.stderr.strip()[-300:]}); check the network and run `make setup` again")
            wheel = Path(tmp) / WHEEL
        try:
            zf = zipfile.ZipFile(wheel)
        except (OSError, zipfile.BadZipFile) as e:
            raise UlearnError(f"{wheel}: not a readable aeon wheel ({e})") from e
        with zf:
            record = {"source": f"PyPI aeon=={AEON_VERSION} ({WHEEL})", "citation": CITATION, "files": {}}
            for split, digest in SHA256.items():
                member = MEMBER.format(split=split)
                try:
                    data = zf.read(member)
                except KeyError as e:
                    raise UlearnError(f"{wheel}: has no {member}") from e
                if _sha256(data) != digest:
                    raise UlearnError(f"{member} in {wheel} has SHA-256 {_sha256(data)}, expected {digest}")
                (out / f"BasicMotions_{split}.ts").write_bytes(data)
                record["files"][f"BasicMotions_{split}.ts"] = {"member": member, "sha256": digest}
    (out / "PROVENANCE.json").write_text(json.dumps(record, indent=2) + "\n")
    if not quiet:
        print(f"BasicMotions: extracted 2 files into {out}")
    return out


def load(seed: int = 0) -> Dataset:
    """The BasicMotions dataset with its own 40/40 train/test split (seed is unused: the split is fixed).

    X: (40, 100, 6) float32, channels acc x/y/z then gyro x/y/z in the archive's units, 10 Hz.
    """
    del seed
    splits = {}
    for split in SHA256:
        f = folder() / f"BasicMotions_{split}.ts"
        if not f.is_file():
            raise UlearnError(f"BasicMotions is not prepared ({f} is missing): run `make setup` "
                              "(or `python -m ulearn_host.data prepare`)")
        X, labels, header = parse_ts(f.read_text())
        names = {c.lower() for c in header.get("classlabel", "").split()[1:]}
        if names and names != set(CLASSES):
            raise UlearnError(f"{f}: class labels {sorted(names)} are not BasicMotions' {CLASSES}")
        try:
            y = np.array([CLASSES.index(s.lower()) for s in labels], dtype=np.int64)
        except ValueError as e:
            raise UlearnError(f"{f}: unknown class label ({e})") from e
        splits[split] = (X, y)
    return Dataset(name="basicmotions", X=splits["TRAIN"][0], y=splits["TRAIN"][1],
                   X_test=splits["TEST"][0], y_test=splits["TEST"][1], classes=list(CLASSES),
                   channels=list(CHANNELS), rate_hz=RATE_HZ, simulated=False, provenance=PROVENANCE,
                   kind="timeseries", units="").validate()
