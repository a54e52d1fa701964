"""The report of several seeds of one config: ``seeds.{json,md,png}``.

Per stage the held-out pass@1 of each seed (with intervals), their mean and
spread (max − min), and each seed's paired gain over the previous stage.
"""

import json
import os

from matplotlib.figure import Figure
import numpy as np

from reasoning_jax.experiments.run_report import stages_of


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
  stages = list(agg["stages"])
  gains = [s for s in stages if "gain" in agg["stages"][s]]
  fig = Figure(figsize=(11 if gains else 5.5, 4))
  axes = fig.subplots(1, 2 if gains else 1, squeeze=False)
  _seeds_panel(axes[0][0], agg, stages)
  if gains:
    _gains_panel(axes[0][1], agg, gains)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "seeds.png"), dpi=90)
  return agg


def _seeds_panel(ax, agg, stages) -> None:
  """Each seed's held-out pass@1 with its interval, per stage; the mean."""
  seeds = agg["seeds"]
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


def _gains_panel(ax, agg, gains) -> None:
  """Each seed's paired gain over the previous stage with its interval."""
  seeds = agg["seeds"]
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
