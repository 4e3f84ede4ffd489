"""Calling the `sprs` program: the one installed beside this package, else the one on PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from ._results import fits, results

PathLike = Union[str, "os.PathLike[str]"]


class SprsError(RuntimeError):
    """`sprs` could not do what was asked: a usage error, a file that cannot be read, a failed
    run. `code` is its exit status and `stderr` what it printed there."""

    def __init__(self, message: str, code: int, stderr: str):
        super().__init__(message)
        self.code = code
        self.stderr = stderr


def binary() -> str:
    """The path of the `sprs` program: the one this package's wheel installed into the
    environment's scripts folder, else the first `sprs` on PATH (`SPRS_BINARY` overrides both)."""
    override = os.environ.get("SPRS_BINARY")
    if override:
        return override
    name = "sprs.exe" if sys.platform == "win32" else "sprs"
    for scheme in (None, "posix_user", "nt_user"):
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        candidate = Path(scripts) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("sprs")
    if found is None:
        raise SprsError("no `sprs` program: install the sprs wheel, or put `sprs` on PATH", 127, "")
    return found


def _call(args: Iterable[str], ok: Iterable[int] = (0,)) -> subprocess.CompletedProcess:
    command = [binary(), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in tuple(ok):
        last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise SprsError(f"`{' '.join(command[1:])}` failed: {last[0]}", done.returncode, done.stderr)
    return done


def _options(options: Mapping[str, Any]) -> list:
    """`--key value` flags from keyword arguments: `True` is a bare flag, a list repeats it,
    `None` and `False` leave it out; `_` in a key is `-` (`no_weights=True` is `--no-weights`)."""
    flags: list = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if item is None or item is False:
                continue
            flags.extend([flag] if item is True else [flag, str(item)])
    return flags


def version() -> str:
    """The `sprs` program's version, as `sprs --version` prints it (`sprs 0.1.0`)."""
    return _call(["--version"]).stdout.strip()


def check(file: PathLike, **options: Any) -> dict:
    """`sprs check --format json FILE`: `{"diagnostics": [...]}`, each with its code, message,
    line, column, help and fixes. A file with errors is data, not an exception; a file that
    cannot be read raises `SprsError`. Options are the command's flags (`set=["batch=8"]`)."""
    done = _call(["check", "--format", "json", *_options(options), str(file)], ok=(0, 1))
    return json.loads(done.stdout)


def plan(file: PathLike, **options: Any) -> dict:
    """`sprs plan --format json FILE`: `{"trials": [...]}` with each trial's configuration,
    observables, steps and pruning schedule, before anything is trained."""
    done = _call(["plan", "--format", "json", *_options(options), str(file)])
    return json.loads(done.stdout)


def run(file: PathLike, **options: Any) -> dict:
    """`sprs run FILE` with these flags (`out=`, `only=`, `jobs=`, `set=[...]`, `no_weights=True`,
    ...), then what it wrote: `{"out": folder, "results": rows of results.csv, "fits": {name:
    fit JSON}}`. Trials already finished are not trained again. Raises `SprsError` if a trial
    failed or the run could not start (with the program's message)."""
    out = options.get("out")
    if out is None:
        out = Path("runs") / Path(file).stem
    _call(["run", *_options(options), str(file)])
    return {"out": str(out), "results": results(out, frame=False), "fits": fits(out)}
