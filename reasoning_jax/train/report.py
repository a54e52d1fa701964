"""The report of a run: ``report.md`` / ``report.png``; of seeds: ``seeds.*``.

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

``write_seeds_report`` puts several seeds' runs of one config side by side:
per stage the pass@1 of each seed (with intervals), their mean and spread,
and each seed's paired gain.
"""

import json
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


def seeds_summary(summaries: dict[int, dict]) -> dict:
  """Per stage across seeds: each seed's pass@1 and interval, the mean,
  min, max and spread (max − min); each seed's paired gain over the
  previous stage with its interval, fixed and broken counts."""
  seeds = sorted(summaries)
  stages = stages_of(summaries[seeds[0]])
  out = {
      "seeds": seeds,
      "stages": {},
      "wall_seconds": [summaries[s].get("wall_seconds") for s in seeds],
  }
  for name in stages:
    rs = [summaries[s][name] for s in seeds]
    p = [r["pass@1"] for r in rs]
    st = {
        "pass@1": p,
        "ci95": [r.get("pass@1_ci95") for r in rs],
        "mean": float(np.mean(p)),
        "min": min(p),
        "max": max(p),
        "spread": max(p) - min(p),
    }
    ds = [r.get("paired_vs_previous") for r in rs]
    if all(ds):
      g = [d["delta"] for d in ds]
      st["gain"] = {
          "delta": g,
          "ci95": [d.get("ci95") for d in ds],
          "fixed": [d["fixed"] for d in ds],
          "broken": [d["broken"] for d in ds],
          "mean": float(np.mean(g)),
          "min": min(g),
          "max": max(g),
      }
    out["stages"][name] = st
  return out


def seeds_markdown(agg: dict) -> str:
  seeds, stages = agg["seeds"], list(agg["stages"])
  head = (
      "| seed | "
      + " | ".join(
          f"{s} pass@1 [95% CI]"
          + (
              " | Δ vs previous [95% CI] (fixed / broken)"
              if "gain" in agg["stages"][s]
              else ""
          )
          for s in stages
      )
      + " | seconds |"
  )
  lines = [head, "|---|" + "---|" * (head.count("|") - 2)]
  for i, seed in enumerate(seeds):
    cells = []
    for s in stages:
      st = agg["stages"][s]
      lo, hi = st["ci95"][i] or (st["pass@1"][i],) * 2
      cells.append(f"{st['pass@1'][i]:.3f} [{lo:.3f}, {hi:.3f}]")
      if "gain" in st:
        g = st["gain"]
        glo, ghi = g["ci95"][i] or (g["delta"][i],) * 2
        cells.append(
            f"{g['delta'][i]:+.3f} [{glo:+.3f}, {ghi:+.3f}] "
            f"({g['fixed'][i]} / {g['broken'][i]})"
        )
    wall = agg["wall_seconds"][i]
    lines.append(
        f"| {seed} | "
        + " | ".join(cells)
        + (f" | {wall:.0f} |" if wall else " | |")
    )
  cells = []
  for s in stages:
    st = agg["stages"][s]
    cells.append(
        f"mean {st['mean']:.3f}, range {st['min']:.3f}-{st['max']:.3f}"
    )
    if "gain" in st:
      g = st["gain"]
      cells.append(
          f"mean {g['mean']:+.3f}, range {g['min']:+.3f} to {g['max']:+.3f}"
      )
  lines.append("| all | " + " | ".join(cells) + " | |")
  return (
      f"Seeds {', '.join(map(str, seeds))}: held-out greedy pass@1 "
      "after each stage and the paired change, per seed.\n\n"
      + "\n".join(lines)
      + "\n"
  )


def write_seeds_report(workdir: str, summaries: dict[int, dict]) -> dict:
  """Writes ``seeds.json``, ``seeds.md`` and ``seeds.png``; returns the
  aggregate (``seeds_summary``)."""
  agg = seeds_summary(summaries)
  with open(os.path.join(workdir, "seeds.json"), "w", encoding="utf-8") as f:
    json.dump(agg, f, indent=2)
  with open(os.path.join(workdir, "seeds.md"), "w", encoding="utf-8") as f:
    f.write(seeds_markdown(agg))
  stages, seeds = list(agg["stages"]), agg["seeds"]
  gains = [s for s in stages if "gain" in agg["stages"][s]]
  fig = Figure(figsize=(11 if gains else 5.5, 4))
  axes = fig.subplots(1, 2 if gains else 1, squeeze=False)
  ax = axes[0][0]
  for i, seed in enumerate(seeds):
    x = np.arange(len(stages)) + (i - (len(seeds) - 1) / 2) * 0.06
    p = np.asarray([agg["stages"][s]["pass@1"][i] for s in stages])
    ci = np.asarray(
        [agg["stages"][s]["ci95"][i] or (v, v) for s, v in zip(stages, p)]
    )
    ax.errorbar(
        x,
        p,
        yerr=np.abs(ci.T - p[None]),
        fmt="o-",
        capsize=3,
        lw=0.8,
        label=f"seed {seed}",
        alpha=0.85,
    )
  for j, s in enumerate(stages):
    m = agg["stages"][s]["mean"]
    ax.hlines(
        m, j - 0.25, j + 0.25, color="k", lw=2, label="mean" if j == 0 else None
    )
    ax.annotate(f"mean {m:.3f}", (j + 0.27, m), fontsize=8, va="center")
  ax.set_xticks(range(len(stages)), stages)
  ax.set(
      ylim=(0, 1),
      xlim=(-0.5, len(stages) - 0.3),
      title="held-out pass@1 per seed (95% CI)",
  )
  ax.legend(fontsize=8, loc="lower right")
  ax.grid(alpha=0.3)
  if gains:
    ax = axes[0][1]
    for j, s in enumerate(gains):
      g = agg["stages"][s]["gain"]
      x = j + (np.arange(len(seeds)) - (len(seeds) - 1) / 2) * 0.15
      d = np.asarray(g["delta"])
      ci = np.asarray([c or (v, v) for c, v in zip(g["ci95"], d)])
      for k, seed in enumerate(seeds):
        ax.errorbar(
            x[k],
            d[k],
            yerr=np.abs(ci[k][:, None] - d[k]),
            fmt="o",
            capsize=4,
            color=f"C{k}",
            label=f"seed {seed}" if j == 0 else None,
        )
      ax.hlines(
          g["mean"],
          j - 0.3,
          j + 0.3,
          color="k",
          lw=2,
          label="mean" if j == 0 else None,
      )
      ax.annotate(
          f"mean {g['mean']:+.3f}",
          (j + 0.32, g["mean"]),
          fontsize=8,
          va="center",
      )
    ax.axhline(0, color="0.5", lw=0.8)
    lo = min(0.0, min(min(agg["stages"][s]["gain"]["delta"]) for s in gains))
    hi = max(max(agg["stages"][s]["gain"]["delta"]) for s in gains)
    ax.set_ylim(lo - 0.05, max(hi * 1.15, hi + 0.05))
    ax.set_xlim(-0.6, len(gains) - 0.1)
    ax.set_xticks(range(len(gains)), [f"{s} − previous" for s in gains])
    ax.set(title="paired gain in pass@1 per seed (95% CI)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "seeds.png"), dpi=90)
  return agg
