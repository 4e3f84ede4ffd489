"""Reading a results folder: `results.csv`, each trial's `metrics.jsonl`, `fits/*.json`."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

#: The observables of `results.csv`, as floats.
OBSERVABLES = ("N", "N_final", "N_avg", "S", "D", "C", "C_dense", "L")
#: A trial's id, which names its folder.
TRIAL_ID = re.compile(r"[0-9a-f]{16}")
#: The columns that say what a trial is rather than what it measured or was configured with.
IDENTITY = ("id", "name", "sweep", "status", "error", "backend", "device")


def _pandas():
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _folder(path: PathLike) -> Path:
    path = Path(path)
    return path.parent if path.is_file() else path


def _number(text: str) -> Any:
    """A cell as the number it writes, else the text; an empty cell is None."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


def results(path: PathLike, frame: Optional[bool] = None):
    """The trials of a results folder (or its `results.csv`): one row each, with `id`, `name`,
    `sweep`, `status` (`ok` or `failed`, a category in pandas), the observables N, N_final,
    N_avg, S, D, C, C_dense and L as floats (L is missing for a failed trial), `error`, `backend`
    and `device` (where it trained: `flex` and `cpu`, say), and the configuration paths that differ between trials (`model.width`, `prune.sparsity`, ...) as
    numbers or words.

    A pandas DataFrame when pandas is installed (or `frame=True`), else a list of dicts
    (`frame=False`)."""
    file = _folder(path) / "results.csv"
    with open(file, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    typed: List[Dict[str, Any]] = []
    for row in rows:
        out: Dict[str, Any] = {}
        for key, value in row.items():
            if key in OBSERVABLES:
                out[key] = float(value) if value != "" else float("nan")
            elif key in IDENTITY:
                out[key] = value if value != "" else None
            else:
                out[key] = _number(value)
        typed.append(out)
    pandas = _pandas()
    if frame is False or (frame is None and pandas is None):
        return typed
    if pandas is None:
        raise ImportError("results(frame=True) needs pandas: pip install sprs[pandas]")
    table = pandas.DataFrame(typed, columns=list(rows[0].keys()) if rows else None)
    if "status" in table:
        table["status"] = table["status"].astype("category")
    return table


def metrics(path: PathLike, trial: Optional[str] = None, frame: Optional[bool] = None):
    """The per-step metrics of every trial of a results folder (or of one, by id or name), in
    long format: one row per trial, step and metric, with columns `id`, `name`, `step`,
    `metric` (`loss`, `lr`, `sparsity`, `nonzero`, `eval_loss`, ...) and `value`.

    A pandas DataFrame when pandas is installed (or `frame=True`), else a list of dicts."""
    folder = _folder(path)
    names = {row["id"]: row["name"] for row in results(folder, frame=False)}
    chosen = [trial_id for trial_id, name in names.items() if trial in (None, trial_id, name)]
    if trial is not None and not chosen:
        raise KeyError(f"no trial `{trial}` in {folder}")
    rows: List[Dict[str, Any]] = []
    for trial_id in chosen:
        # A trial's folder is named by its id, 16 hex digits: nothing else in results.csv is
        # taken for a path.
        if not TRIAL_ID.fullmatch(trial_id):
            raise ValueError(f"`{trial_id}` in {folder / 'results.csv'} is not a trial id")
        log = folder / trial_id / "metrics.jsonl"
        if not log.is_file():
            continue
        with open(log, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                step = record.pop("step")
                for metric, value in record.items():
                    rows.append({"id": trial_id, "name": names[trial_id], "step": step, "metric": metric, "value": value})
    pandas = _pandas()
    if frame is False or (frame is None and pandas is None):
        return rows
    if pandas is None:
        raise ImportError("metrics(frame=True) needs pandas: pip install sprs[pandas]")
    return pandas.DataFrame(rows, columns=["id", "name", "step", "metric", "value"])


def fit(path: PathLike, name: str) -> dict:
    """A fit of a results folder, as `sprs fit` wrote it to `fits/<name>.json`: the law, its
    parameters with their bootstrap intervals, the in-sample and held-out errors, each point's
    prediction and the compute-optimal allocations."""
    file = _folder(path) / "fits" / f"{name}.json"
    if not file.is_file():
        known = sorted(p.stem for p in (file.parent.glob("*.json") if file.parent.is_dir() else []))
        raise KeyError(f"no fit `{name}` in {file.parent} (fits: {', '.join(known) or 'none'})")
    with open(file, encoding="utf-8") as handle:
        return json.load(handle)


def fits(path: PathLike) -> Dict[str, dict]:
    """Every fit of a results folder, by name."""
    folder = _folder(path) / "fits"
    return {p.stem: fit(path, p.stem) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
