"""The installed wheel, as a user meets it: the `sprs` program on PATH, and the Python package on
the results of a small run. Run by scripts/wheel_test.sh in a fresh virtual environment with no
Rust on PATH; every expected value comes from the program's plan or from a formula, not from the
results being read."""

import importlib.metadata
import math
import os
import shutil
from pathlib import Path

import pytest

import sprs

REPO = Path(os.environ.get("SPRS_REPO", Path(__file__).resolve().parents[2]))

SMALL = """sprs 0.1

use std::models::llama
use std::data::markov

train small {
    data   = markov
    model  = llama { width = 16, depth = 1 }
    batch  = 4
    budget = 40 steps
}

sweep pair = small { model.width in [16, 32] }

/// A constant law: its E lies between the two losses it is fitted to.
fit level {
    law    = E * N^0
    params = { E = [1, 2, 3] }
    on     = pair
}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project with SMALL, run once."""
    folder = tmp_path_factory.mktemp("project")
    (folder / ".git").mkdir()
    (folder / "small.sprs").write_text(SMALL)
    ran = sprs.run(folder / "small.sprs", out=folder / "runs" / "small", jobs=1)
    return folder, ran


def test_the_program_is_on_path_and_is_not_a_rust_build():
    on_path = shutil.which("sprs")
    assert on_path is not None and Path(on_path).resolve() == Path(sprs.binary()).resolve()
    assert shutil.which("cargo") is None, "the test environment must not have Rust"
    assert sprs.version() == "sprs " + importlib.metadata.version("sprs")


def test_check_and_plan_a_shipped_file():
    tiny = REPO / "experiments" / "tiny.sprs"
    assert sprs.check(tiny) == {"diagnostics": []}
    trials = sprs.plan(tiny)["trials"]
    assert len(trials) == 1
    trial = trials[0]
    # Tokens are the steps times the tokens of a step.
    assert trial["D"] == trial["steps"] * trial["tokens_per_step"]


def test_check_reports_errors_as_data(tmp_path):
    (tmp_path / ".git").mkdir()
    broken = tmp_path / "broken.sprs"
    broken.write_text(SMALL.replace("width = 16, depth", "widht = 16, depth"))
    diagnostics = sprs.check(broken)["diagnostics"]
    assert [d["code"] for d in diagnostics] == ["E0102"]
    assert diagnostics[0]["fixes"][0]["text"] == "width"
    with pytest.raises(sprs.SprsError) as failure:
        sprs.check(tmp_path / "missing.sprs")
    assert failure.value.code == 2


def test_results_hold_what_the_plan_said(project):
    folder, ran = project
    planned = {t["id"]: t for t in sprs.plan(folder / "small.sprs")["trials"]}
    rows = sprs.results(ran["out"], frame=False)
    assert ran["results"] == rows
    assert sorted(r["id"] for r in rows) == sorted(planned)
    for row in rows:
        plan = planned[row["id"]]
        assert row["status"] == "ok" and row["error"] is None
        assert (row["backend"], row["device"]) == ("flex", "cpu")
        for observable in ("N", "N_avg", "D", "C"):
            assert row[observable] == pytest.approx(plan[observable], rel=1e-12), observable
        assert isinstance(row["L"], float) and 0 < row["L"] < math.log(plan["config"]["model"]["vocab"]) + 1
        assert row["model.width"] == plan["config"]["model"]["width"]
    assert sorted(r["model.width"] for r in rows) == [16, 32]


def test_metrics_end_at_the_final_loss(project):
    folder, ran = project
    rows = sprs.metrics(ran["out"], frame=False)
    by_trial = {}
    for row in rows:
        by_trial.setdefault(row["id"], []).append(row)
    for result in sprs.results(ran["out"], frame=False):
        steps = by_trial[result["id"]]
        losses = [r for r in steps if r["metric"] == "loss"]
        assert [r["step"] for r in losses] == list(range(40))
        evals = [r for r in steps if r["metric"] == "eval_loss"]
        assert evals[-1]["value"] == pytest.approx(result["L"], rel=1e-12)
    one = sprs.metrics(ran["out"], trial="pair[model.width=16]", frame=False)
    assert {r["name"] for r in one} == {"pair[model.width=16]"}
    with pytest.raises(KeyError):
        sprs.metrics(ran["out"], trial="nothing")


def test_an_id_is_never_taken_for_a_path(tmp_path):
    (tmp_path / "results.csv").write_text("id,name,sweep,status,L\n../../etc,x,,ok,1.0\n")
    with pytest.raises(ValueError):
        sprs.metrics(tmp_path, frame=False)


def test_a_fit_as_sprs_fit_wrote_it(project):
    folder, ran = project
    level = sprs.fit(ran["out"], "level")
    assert ran["fits"]["level"] == level
    losses = [r["L"] for r in sprs.results(ran["out"], frame=False)]
    e = level["params"]["E"]
    assert min(losses) <= e["value"] <= max(losses)
    assert e["lo"] <= e["value"] <= e["hi"]
    assert level["points"] == 2
    with pytest.raises(KeyError):
        sprs.fit(ran["out"], "missing")


def test_a_second_run_trains_nothing(project):
    folder, ran = project
    again = sprs.run(folder / "small.sprs", out=ran["out"], jobs=1)
    assert again["results"] == ran["results"]


def test_frames_with_pandas(project):
    pandas = pytest.importorskip("pandas")
    folder, ran = project
    table = sprs.results(ran["out"])
    assert isinstance(table, pandas.DataFrame) and len(table) == 2
    assert str(table["status"].dtype) == "category"
    assert table["L"].dtype == float and table["N"].dtype == float
    assert sorted(table["model.width"]) == [16, 32]
    curves = sprs.metrics(ran["out"])
    assert list(curves.columns) == ["id", "name", "step", "metric", "value"]
    assert len(curves[curves.metric == "loss"]) == 2 * 40


def test_lists_without_pandas(project, monkeypatch):
    import sprs._results as results_module

    monkeypatch.setattr(results_module, "_pandas", lambda: None)
    folder, ran = project
    assert isinstance(sprs.results(ran["out"]), list)
    with pytest.raises(ImportError):
        sprs.results(ran["out"], frame=True)
