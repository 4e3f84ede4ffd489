"""sprs from Python: run and check `.sprs` files, and read what a run wrote.

The `sprs` program comes with this package (the wheel puts it on the environment's PATH); these
functions call it, or read the results folder it writes (`runs/<file stem>` by default):

>>> import sprs
>>> sprs.check("experiments/tiny.sprs")["diagnostics"]
[]
>>> out = sprs.run("experiments/tiny.sprs")["out"]
>>> table = sprs.results(out)          # one row per trial: axes, observables, status
>>> curves = sprs.metrics(out)         # one row per trial, step and metric
>>> law = sprs.fit(out, "unified")     # a fit's parameters, intervals and errors

With pandas installed (`pip install sprs[pandas]`), `results` and `metrics` return DataFrames;
without it, lists of dicts with the same columns.
"""

from ._results import fit, metrics, results
from ._program import SprsError, binary, check, plan, run, version

__all__ = ["SprsError", "binary", "check", "fit", "metrics", "plan", "results", "run", "version"]
