"""The report of one multi-stage run: ``report.md`` and ``report.png``.

Per stage: held-out greedy pass@1, format rate, completion length, the rate
of reflection phrases and the paired change against the previous stage;
budget-forcing rows of a ``budget`` stage. The PNG shows these across
stages (top row) and, under them, the RL rollouts' accuracy, completion
length and reflection rate over training, stage after stage (R1-Zero's
curves), from ``metrics.jsonl``.
"""

import os

from reasoning_jax.train import metrics as metrics_lib

ACROSS = (("pass@1", "held-out pass@1"), ("length", "completion tokens"),
          ("reflection", "reflection-phrase rate"))
DURING = (("accuracy", "rollout accuracy"), ("length", "rollout tokens"),
          ("reflection_rate", "rollout reflection rate"))


def stages_of(summary: dict) -> list[str]:
  return [k for k, v in summary.items() if isinstance(v, dict)]


def markdown(summary: dict) -> str:
  lines = ["| stage | pass@1 | format | length | reflection | Δ pass@1 "
           "(fixed / broken) |", "|---|---|---|---|---|---|"]
  for name in stages_of(summary):
    r = summary[name]
    d = r.get("paired_vs_previous")
    delta = (f"{d['delta']:+.3f} ({d['fixed']} / {d['broken']})" if d
             else "")
    lines.append(f"| {name} | {r['pass@1']:.3f} | {r['format']:.3f} | "
                 f"{r['length']:.1f} | {r['reflection']:.3f} | {delta} |")
  for name in stages_of(summary):
    rows = summary[name].get("budget_forcing")
    if rows:
      lines += ["", f"Budget forcing ({name}):", "",
                "| budget | pass@1 | thinking tokens |", "|---|---|---|"]
      lines += [f"| {b['budget']} | {b['pass@1']:.3f} | "
                f"{b['think_tokens']:.1f} |" for b in rows]
  n = next((summary[s]["num_problems"] for s in stages_of(summary)), 0)
  return (f"Held-out greedy evaluation on {n} test problems after each "
          "stage.\n\n" + "\n".join(lines) + "\n")


def training_curves(logdir: str, stages: list[str]) -> dict:
  """{key: (steps, values, stage boundaries)} of the RL rollout metrics,
  the stages' steps laid end to end."""
  out = {k: ([], [], []) for k, _ in DURING}
  offset = 0
  for s in stages:
    rows = [r for r in metrics_lib.read_metrics(logdir, s)
            if r.get("accuracy") is not None]
    if not rows:
      continue
    for k, _ in DURING:
      xs, ys, bounds = out[k]
      got = [(r["step"], r[k]) for r in rows if r.get(k) is not None]
      xs += [offset + x for x, _ in got]
      ys += [y for _, y in got]
      bounds.append((offset, s))
    offset += max(r["step"] for r in rows)
  return out


def write_report(logdir: str, summary: dict) -> None:
  """Writes ``report.md`` and ``report.png`` into ``logdir``."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  stages = stages_of(summary)
  with open(os.path.join(logdir, "report.md"), "w", encoding="utf-8") as f:
    f.write(markdown(summary))
  if not stages:
    return
  curves = training_curves(logdir, stages)
  during = any(curves[k][0] for k, _ in DURING)
  fig, axes = plt.subplots(2 if during else 1, 3, squeeze=False,
                           figsize=(13, 7 if during else 3.6))
  for ax, (key, label) in zip(axes[0], ACROSS):
    ax.plot(range(len(stages)), [summary[s][key] for s in stages], "o-")
    ax.set_xticks(range(len(stages)), stages, rotation=20, fontsize=8)
    ax.set(title=f"{label} after each stage")
    ax.grid(alpha=0.3)
  if during:
    for ax, (key, label) in zip(axes[1], DURING):
      xs, ys, bounds = curves[key]
      ax.plot(xs, ys, lw=0.8)
      for x, name in bounds:
        ax.axvline(x, color="k", lw=0.5, ls=":")
        ax.text(x, 1.0, f" {name}", transform=ax.get_xaxis_transform(),
                fontsize=7, va="top")
      ax.set(title=label, xlabel="RL step")
      ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(os.path.join(logdir, "report.png"), dpi=90)
  plt.close(fig)
