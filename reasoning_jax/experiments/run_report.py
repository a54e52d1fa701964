"""The report of a run: ``report.md`` / ``report.png``.

Per stage: held-out greedy pass@1 with its bootstrap 95% interval, format
and think rates, completion length, the rate of reflection phrases and the
paired change against the previous stage (with its interval); pass@1 per
difficulty level when the task has levels; budget-forcing rows of a
``budget`` stage. The PNG shows these across stages (top row, pass@1 on a
0-1 axis with interval bars) and, under them, the RL rollouts' accuracy,
length, think rate and reflection rate over training (raw and smoothed),
stage after stage, from ``metrics.jsonl``. A quantity that is zero
throughout carries no signal: its panel is left out and named in the
figure's footnote.
(Several seeds of one config: ``experiments/seeds_report.py``.)
"""

import os
import textwrap

from matplotlib.figure import Figure
import numpy as np

from reasoning_jax.train import metrics as metrics_lib

ACROSS = (
    ("think", "share opening <think>"),
    ("length", "completion tokens"),
    ("reflection", "reflection-phrase rate"),
)
DURING = (
    ("accuracy", "rollout accuracy"),
    ("length", "rollout tokens"),
    ("think_rate", "rollout share opening <think>"),
    ("reflection_rate", "rollout reflection rate"),
)


def stages_of(summary: dict) -> list[str]:
  return [k for k, v in summary.items() if isinstance(v, dict)]


def _ci(r: dict) -> str:
  lo_hi = r.get("pass@1_ci95")
  return f" [{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else ""


def _delta(d: dict | None) -> str:
  if not d:
    return ""
  ci = f" [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]" if "ci95" in d else ""
  return f"{d['delta']:+.3f}{ci} ({d['fixed']} / {d['broken']})"


def markdown(summary: dict) -> str:
  lines = [
      (
          "| stage | pass@1 [95% CI] | format | think | length | "
          "reflection | Δ pass@1 [95% CI] (fixed / broken) |"
      ),
      "|---|---|---|---|---|---|---|",
  ]
  for name in stages_of(summary):
    r = summary[name]
    lines.append(
        f"| {name} | {r['pass@1']:.3f}{_ci(r)} | {r['format']:.3f} | "
        f"{r.get('think', 0.0):.3f} | {r['length']:.1f} | "
        f"{r['reflection']:.3f} | {_delta(r.get('paired_vs_previous'))} |"
    )
  levels = sorted(
      {
          k
          for s in stages_of(summary)
          for k in summary[s].get("by_difficulty", {})
      },
      key=int,
  )
  if levels:
    lines += [
        "",
        "pass@1 by difficulty level:",
        "",
        "| stage | " + " | ".join(levels) + " |",
        "|---|" + "---|" * len(levels),
    ]
    for name in stages_of(summary):
      bd = summary[name].get("by_difficulty", {})
      lines.append(
          f"| {name} | "
          + " | ".join(f"{bd[k]:.3f}" if k in bd else "" for k in levels)
          + " |"
      )
  for name in stages_of(summary):
    rows = summary[name].get("budget_forcing")
    if rows:
      lines += [
          "",
          f"Budget forcing ({name}):",
          "",
          "| budget | pass@1 | thinking tokens |",
          "|---|---|---|",
      ]
      lines += [
          f"| {b['budget']} | {b['pass@1']:.3f} | {b['think_tokens']:.1f} |"
          for b in rows
      ]
  n = next((summary[s]["num_problems"] for s in stages_of(summary)), 0)
  return (
      f"Held-out greedy evaluation on {n} test problems after each stage.\n\n"
      + "\n".join(lines)
      + "\n"
  )


def training_curves(logdir: str, stages: list[str]) -> dict:
  """{key: (steps, values, stage boundaries)} of the RL rollout metrics,
  the stages' steps laid end to end."""
  out = {k: ([], [], []) for k, _ in DURING}
  offset = 0
  for s in stages:
    rows = [
        r
        for r in metrics_lib.read_metrics(logdir, s)
        if r.get("accuracy") is not None
    ]
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


def smooth(values, window: int) -> np.ndarray:
  """Trailing moving average: s_i = mean(v[max(0, i−w+1) .. i])."""
  v = np.asarray(values, np.float64)
  assert v.ndim == 1 and window >= 1, (v.shape, window)
  c = np.concatenate([[0.0], np.cumsum(v)])
  i = np.arange(1, v.size + 1)
  lo = np.maximum(0, i - window)
  return (c[i] - c[lo]) / (i - lo)


def has_signal(values) -> bool:
  """False when every value is zero (or there are none)."""
  return any(v for v in values)


def _pass_panel(ax, summary, stages):
  p = [summary[s]["pass@1"] for s in stages]
  ci = [summary[s].get("pass@1_ci95", (v, v)) for s, v in zip(stages, p)]
  err = np.abs(np.asarray(ci).T - np.asarray(p)[None])
  ax.errorbar(range(len(stages)), p, yerr=err, fmt="o-", capsize=4)
  for i, v in enumerate(p):
    ax.annotate(
        f"{v:.3f}",
        (i, v),
        textcoords="offset points",
        xytext=(6, -10),
        fontsize=8,
    )
  ax.set(title="held-out pass@1 (95% CI)", ylim=(0, 1))


def _difficulty_panel(ax, summary, stages):
  levels = sorted(
      {k for s in stages for k in summary[s].get("by_difficulty", {})}, key=int
  )
  width = 0.8 / len(stages)
  for j, s in enumerate(stages):
    bd = summary[s].get("by_difficulty", {})
    ax.bar(
        [i + j * width for i in range(len(levels))],
        [bd.get(k, 0.0) for k in levels],
        width,
        label=s,
    )
  ax.set_xticks([i + 0.4 - width / 2 for i in range(len(levels))], levels)
  ax.set(title="pass@1 by difficulty level", ylim=(0, 1), xlabel="level")
  ax.legend(fontsize=7)


def _stage_panel(ax, summary, stages, key, label) -> None:
  """A value after each stage (pass@1 with intervals, by difficulty, or
  one of ACROSS)."""
  if key == "pass@1":
    _pass_panel(ax, summary, stages)
  elif key == "by_difficulty":
    _difficulty_panel(ax, summary, stages)
  else:
    ax.plot(
        range(len(stages)), [summary[s].get(key, 0.0) for s in stages], "o-"
    )
    ax.set(title=f"{label} after each stage")
    if key == "think":
      ax.set_ylim(0, 1.05)
  if key != "by_difficulty":
    ax.set_xticks(range(len(stages)), stages, rotation=20, fontsize=8)
  ax.grid(alpha=0.3)


def _curve_panel(ax, curve, key, label) -> None:
  """A training curve over RL steps (raw and smoothed), stage bounds
  dotted."""
  xs, ys, bounds = curve
  ax.plot(xs, ys, lw=0.6, alpha=0.35, color="C0", label="per step")
  ax.plot(
      xs,
      smooth(ys, max(1, len(ys) // 15)),
      lw=1.8,
      color="C0",
      label="smoothed",
  )
  for x, name in bounds:
    ax.axvline(x, color="k", lw=0.5, ls=":")
    ax.text(
        x,
        1.0,
        f" {name}",
        transform=ax.get_xaxis_transform(),
        fontsize=7,
        va="top",
    )
  if key in ("accuracy", "think_rate", "reflection_rate"):
    ax.set_ylim(0, 1.05)
  ax.set(title=label, xlabel="RL step")
  ax.legend(fontsize=7, loc="lower right")
  ax.grid(alpha=0.3)


def write_report(logdir: str, summary: dict) -> None:
  """Writes ``report.md`` and ``report.png`` into ``logdir``."""
  stages = stages_of(summary)
  with open(os.path.join(logdir, "report.md"), "w", encoding="utf-8") as f:
    f.write(markdown(summary))
  if not stages:
    return
  silent = []
  top = [("pass@1", None)]
  if any("by_difficulty" in summary[s] for s in stages):
    top.append(("by_difficulty", None))
  for key, label in ACROSS:
    if has_signal(summary[s].get(key, 0.0) for s in stages):
      top.append((key, label))
    else:
      silent.append(f"{label}: 0 after every stage")
  curves = training_curves(logdir, stages)
  bottom = []
  for key, label in DURING:
    if curves[key][0] and has_signal(curves[key][1]):
      bottom.append((key, label))
    elif curves[key][0]:
      silent.append(f"{label}: 0 throughout")
  cols = max(len(top), len(bottom))
  fig = Figure(figsize=(3.6 * cols, 7 if bottom else 3.8))
  axes = fig.subplots(2 if bottom else 1, cols, squeeze=False)
  for ax, (key, label) in zip(axes[0], top):
    _stage_panel(ax, summary, stages, key, label)
  for ax, (key, label) in zip(axes[1] if bottom else (), bottom):
    _curve_panel(ax, curves[key], key, label)
  for i, used in enumerate((len(top), len(bottom))[: len(axes)]):
    for ax in axes[i][used:]:
      ax.axis("off")
  note = (
      textwrap.fill("No signal, not drawn: " + "; ".join(silent), 40 * cols)
      if silent
      else ""
  )
  if note:
    fig.text(0.01, 0.005, note, fontsize=7, color="0.4", va="bottom")
  fig.tight_layout(
      rect=(0, 0.025 * (note.count("\n") + 1) if note else 0, 1, 1)
  )
  fig.savefig(os.path.join(logdir, "report.png"), dpi=90)
