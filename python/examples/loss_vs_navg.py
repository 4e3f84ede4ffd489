"""The main job's results in pandas: held-out loss against the average parameter count N_avg,
one colour per final sparsity. Jin et al. 2025 predict that pruned models sit on the dense
models' curve when plotted against N_avg.

    python python/examples/loss_vs_navg.py runs/chinchilla_sweep docs/loss_vs_navg.png
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import sprs

out = sys.argv[1] if len(sys.argv) > 1 else "runs/chinchilla_sweep"
image = sys.argv[2] if len(sys.argv) > 2 else "loss_vs_navg.png"

table = sprs.results(out)
done = table[table.status == "ok"].assign(sparsity=lambda t: t.S.round(2))
print(done.groupby("sparsity").agg(trials=("L", "size"), N_avg_min=("N_avg", "min"), L_min=("L", "min"), L_max=("L", "max")))

fig, ax = plt.subplots(figsize=(6, 4))
for sparsity, group in done.groupby("sparsity"):
    ax.scatter(group.N_avg, group.L, label=f"S = {sparsity:.0%}", s=18)
ax.set_xscale("log")
ax.set_xlabel("N_avg: non-zero parameters, averaged over training")
ax.set_ylabel("L: held-out loss (nats per token)")
ax.legend(title="final sparsity")
fig.tight_layout()
fig.savefig(image, dpi=110)
print(f"wrote {image}")
