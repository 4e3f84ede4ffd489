"""scipy reference for `cargo bench --bench fit`: Chinchilla's Approach 3 on Epoch AI's 240
points, as Besiroglu et al. 2024 fit it (L-BFGS-B with an analytic gradient of the summed Huber
loss on log residuals, log L_hat = logsumexp(a - alpha log N, b - beta log D, e)), from every
`--every`-th start of the 4500-point grid. Prints JSON: starts, seconds, and the best fit.

    python benches/reference_fit.py tests/fixtures/chinchilla_epoch_svg.csv --every 10
"""

import argparse
import csv
import itertools
import json
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

DELTA = 1e-3


def load(path):
    rows = [r for r in csv.DictReader(open(path)) if float(r["loss"]) < 3.44]
    n = np.array([float(r["Model Size"]) for r in rows])
    c = np.array([float(r["Training FLOP"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    return np.log(n), np.log(c / (6 * n)), np.log(loss)


def objective(theta, log_n, log_d, log_l):
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    pred = logsumexp(terms, axis=0)
    r = pred - log_l
    small = np.abs(r) <= DELTA
    value = np.where(small, 0.5 * r * r, DELTA * (np.abs(r) - 0.5 * DELTA)).sum()
    slope = np.where(small, r, DELTA * np.sign(r))
    w = np.exp(terms - pred)  # softmax weights of the three terms
    grad = np.array([
        (slope * w[0]).sum(),
        (slope * w[1]).sum(),
        (slope * w[2]).sum(),
        (slope * w[0] * -log_n).sum(),
        (slope * w[1] * -log_d).sum(),
    ])
    return value, grad


def main():
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("--every", type=int, default=10)
    a = p.parse_args()
    data = load(a.csv)
    grid = list(itertools.product(
        np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
        np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5)))
    starts = grid[::a.every]
    started = time.perf_counter()
    best = None
    for x0 in starts:
        r = minimize(objective, np.array(x0), args=data, jac=True, method="L-BFGS-B")
        if best is None or r.fun < best.fun:
            best = r
    seconds = time.perf_counter() - started
    a_, b_, e_, alpha, beta = best.x
    print(json.dumps({"grid": len(grid), "starts": len(starts), "seconds": seconds, "objective": best.fun,
                      "A": float(np.exp(a_)), "B": float(np.exp(b_)), "E": float(np.exp(e_)),
                      "alpha": float(alpha), "beta": float(beta)}))


if __name__ == "__main__":
    main()
