"""`ulearn push`: build what a board needs for its own .mpy ABI/arch, copy only what changed.

Two phases keep the board importable whatever happens: every changed file is first written aside
(`<name>.ulearn-tmp`; a full flash stops here and nothing is replaced), then all are renamed into
place; files of a pushed package that no longer exist locally are removed (a stale `.py` would
shadow a new `.mpy`). Finally every file is verified by sha256 read back from the board.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .. import device_lib_dir, resource_dir
from ..blob import blob_module_source, load_blob_bytes
from ..errors import UlearnError
from ..unixport import mpy_cross_exe
from .device import TMP_SUFFIX, Board, BoardError
from .probe import compile_plan, identify

APPS_DIR = resource_dir("device", "apps")
NATIVE_DIST = resource_dir("device", "native", "dist")
MODEL_SUFFIXES = (".ulb", ".mpy")
FS_OVERHEAD = 4096  # per file written aside: one flash block of metadata/slack


@dataclass
class FilePlan:
    """One file to place on the board."""

    dest: str
    data: bytes
    source: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class PushPlan:
    """Everything one push places on the board, and the board folders it owns (mirrored)."""

    files: list[FilePlan] = field(default_factory=list)
    owned_dirs: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def compile_source(path: Path, rel_name: str, plan: dict) -> bytes | None:
    """The bytes to install for a `.py` file: compiled `.mpy` or the source; None if it can't run there."""
    if plan["mode"] == "source":
        return path.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        cmd = [mpy_cross_exe(), "-s", rel_name, "-o", str(out)]
        if plan["arch"]:
            cmd.append(f"-march={plan['arch']}")
        cmd.append(str(path))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            if not plan["arch"] and ("native" in proc.stderr or "viper" in proc.stderr):
                return None  # native/viper code cannot run on a board without a native arch
            raise UlearnError(f"mpy-cross failed on {path}: {proc.stderr.strip()}")
        return out.read_bytes()


def _add_tree(plan: PushPlan, src: Path, dest_root: str, cplan: dict) -> None:
    plan.owned_dirs.append(dest_root)
    for path in sorted(src.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyi") \
                or path.name.startswith("."):
            continue
        rel = path.relative_to(src).as_posix()
        if path.suffix == ".py":
            data = compile_source(path, f"{src.name}/{rel}", cplan)
            if data is None:
                plan.skipped.append(f"{src.name}/{rel} (needs native code; this board has no native arch)")
                continue
            if cplan["mode"] == "mpy":
                rel = rel[:-3] + ".mpy"
        else:
            data = path.read_bytes()
        plan.files.append(FilePlan(f"{dest_root}/{rel}", data, str(path)))


def _model_file(path: Path, cplan: dict) -> FilePlan:
    """A model. `.ulb` goes as it is (a raw blob loads into one int8 array: weights used in place);
    `.mpy` is recompiled from its blob for this board (so a model built elsewhere still loads)."""
    blob = load_blob_bytes(path)
    name = path.stem
    if path.suffix == ".ulb":
        return FilePlan(f"/{name}.ulb", blob, str(path))
    if cplan["mode"] == "source":
        return FilePlan(f"/{name}.py", blob_module_source(blob, name).encode(), str(path))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{name}.py"
        src.write_text(blob_module_source(blob, name))
        data = compile_source(src, f"{name}.py", cplan)
    return FilePlan(f"/{name}.mpy", data, str(path))


def native_module_for(info: dict) -> Path | None:
    """The built `ulearn_native.mpy` for this board's arch and ABI, if one exists in dist/."""
    if not info.get("native_loadable"):
        return None
    folder = NATIVE_DIST / f"{info['arch']}_mpy{info['mpy_version']}.{info['mpy_sub']}"
    candidate = folder / "ulearn_native.mpy"
    return candidate if candidate.exists() else None


def check_profile(profile: dict, info: dict) -> None:
    """Refuse a board profile that contradicts what the board says it is."""
    from ..boards import suggest
    problems = []
    if profile.get("runtime") and profile["runtime"] != info.get("runtime"):
        problems.append(f"runtime {profile['runtime']} (board: {info.get('runtime')})")
    arch = profile.get("natmod_arch")
    if arch and info.get("arch") and arch != info["arch"]:
        problems.append(f"native arch {arch} (board: {info['arch']})")
    if problems:
        hint = suggest(info)
        raise BoardError(f"board profile {profile['name']!r} does not match this board: {', '.join(problems)}"
                         + (f"; use --board {hint}" if hint else ""))


def _add_profile(plan: PushPlan, profile: dict, cplan: dict) -> None:
    """The sensor driver (from the installed Adafruit packages), simulated chip if any, and board.json."""
    import json

    from ..boards import driver_files
    for src, dest in driver_files(profile):
        data = compile_source(src, dest.removeprefix("lib/"), cplan) if src.suffix == ".py" else src.read_bytes()
        if data is None:
            plan.skipped.append(f"{dest} (needs native code)")
            continue
        if src.suffix == ".py" and cplan["mode"] == "mpy":
            dest = dest[:-3] + ".mpy"
        plan.files.append(FilePlan("/" + dest, data, str(src)))
    plan.files.append(FilePlan("/board.json", json.dumps(profile, sort_keys=True).encode(), profile["name"]))


def build_plan(what: list[str], info: dict, native: bool = True, profile: dict | None = None) -> PushPlan:
    """Resolve `what` (lib, app names, folders, model files) and a board profile into files for this board."""
    cplan = compile_plan(info)
    plan = PushPlan()
    if profile is not None:
        check_profile(profile, info)
        _add_profile(plan, profile, cplan)
    for item in what or ["lib"]:
        path = Path(item)
        if item == "lib":
            _add_tree(plan, device_lib_dir() / "ulearn", "/lib/ulearn", cplan)
            module = native_module_for(info) if native else None
            if module:
                plan.files.append(FilePlan("/lib/ulearn_native.mpy", module.read_bytes(), str(module)))
        elif "/" not in item and (APPS_DIR / item).is_dir():
            _add_tree(plan, APPS_DIR / item, f"/lib/{item}", cplan)
        elif path.is_dir():
            _add_tree(plan, path, f"/lib/{path.name}", cplan)
        elif path.is_file() and path.suffix in MODEL_SUFFIXES:
            plan.files.append(_model_file(path, cplan))
        elif path.is_file() and path.suffix == ".py":
            data = compile_source(path, path.name, cplan)
            suffix = ".mpy" if cplan["mode"] == "mpy" else ".py"
            plan.files.append(FilePlan(f"/{path.stem}{suffix}", data, str(path)))
        else:
            apps = ", ".join(sorted(p.name for p in APPS_DIR.iterdir() if p.is_dir())) if APPS_DIR.exists() else ""
            raise UlearnError(f"don't know what to push for {item!r}: give `lib`, an app ({apps}), a folder, "
                              f"a model (.mpy/.ulb) or a .py file")
    return plan


@dataclass
class PushResult:
    """What a push did."""

    copied: list[str]
    unchanged: int
    removed: list[str]
    bytes_copied: int
    skipped: list[str]
    info: dict

    def summary(self) -> str:
        return (f"pushed {len(self.copied)} file(s) ({self.bytes_copied} bytes), {self.unchanged} unchanged, "
                f"{len(self.removed)} removed; verified by sha256 on the board")


def push(board: Board, what: list[str] | None = None, progress: bool = True, native: bool = True,
         require_native: bool = False, profile: dict | None = None) -> PushResult:
    """Deploy `what` to an open board; see the module docstring for the guarantees.

    `require_native` makes a board that cannot load native modules an error instead of a fallback.
    """
    info = identify(board)
    if require_native:
        if info["runtime"] != "micropython":
            raise BoardError(f"the board at {board.port} runs {info['runtime']}: native modules (.mpy with "
                             f"machine code) are MicroPython-only; push without --native (ulearn then uses "
                             f"ulab or Python there)")
        if not info.get("native_loadable"):
            raise BoardError(f"the board at {board.port} has no native code support (.mpy arch none): "
                             f"push without --native")
        if native_module_for(info) is None:
            raise BoardError(f"no native module built for {info['arch']} .mpy v{info['mpy_version']}."
                             f"{info['mpy_sub']}: run `make natmod ARCH={info['arch']} MPY_DIR=...` first")
    plan = build_plan(what or ["lib"], info, native, profile)
    dests = [f.dest for f in plan.files]
    on_board = board.hashes(dests)
    changed = [f for f in plan.files if on_board.get(f.dest) != f.sha256]
    existing = []
    for folder in plan.owned_dirs:
        existing += board.walk(folder)
    for leftover in [p for p in existing if p.endswith(TMP_SUFFIX)]:
        board.exec(f"import os\nos.remove({leftover!r})")
    wanted = set(dests)
    stale = [p for p in existing if not p.endswith(TMP_SUFFIX) and p not in wanted]

    need = sum(len(f.data) + FS_OVERHEAD for f in changed)
    free = board.free_bytes()
    if changed and free is not None and need > free:
        raise BoardError(f"not enough flash on {board.port}: this push needs about {need} bytes, "
                         f"{free} are free; nothing was changed. Free space (mpremote fs rm) or push less")

    staged: list[tuple[str, str]] = []
    total = sum(len(f.data) for f in changed)
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"push {board.port}", disable=not progress or not changed,
              leave=False) as bar:
        try:
            for f in changed:
                parent = f.dest.rsplit("/", 1)[0]
                if parent:
                    board.makedirs(parent)
                staged.append((board.write_aside(f.data, f.dest, bar.update), f.dest))
        except BoardError:
            for tmp, _ in staged:  # leave the board as it was
                board.discard(tmp)
            raise
    for tmp, dest in staged:
        board.commit(tmp, dest)
    for path in stale:
        board.exec(f"import os\nos.remove({path!r})")

    after = board.hashes([f.dest for f in changed])
    bad = [f.dest for f in changed if after.get(f.dest) != f.sha256]
    if bad:
        raise BoardError(f"verification failed on {board.port} for {', '.join(bad)}: push again")
    return PushResult([f.dest for f in changed], len(plan.files) - len(changed), stale, total, plan.skipped, info)
