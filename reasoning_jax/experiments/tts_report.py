"""The test-time scaling report: ``tts.md`` (every method's accuracy with
its interval per N, FLOPs, per-difficulty accuracy, the compute-optimal
choice, verifier discrimination) and the PNG plots, from ``tts.run``'s
output dict."""

import os

from matplotlib.figure import Figure

SHOWN = (
    "majority",
    "bon_orm",
    "bon_prm_exact_min",
    "bon_lmv_min",
    "sequential_majority",
    "pass@N",
)  # per-difficulty table and plot.


def markdown(out) -> str:
  """``tts.md``: the accuracy table, then a section per experiment run."""
  ns = sorted({int(k) for r in out["methods"].values() for k in r})
  lines = [
      (
          f"{out['task']} (difficulty {out['difficulty']}), "
          f"{out['problems']} test problems, T = {out['temperature']}: "
          f"greedy pass@1 {out['greedy_pass@1']:.3f}, sampled pass@1 "
          f"{out['sample_pass@1']:.3f}. Accuracy [95% bootstrap CI]:\n"
      ),
      "| method | " + " | ".join(f"N={k}" for k in ns) + " |",
      "|---" * (len(ns) + 1) + "|",
  ]
  for name, r in out["methods"].items():
    cells = [
        f"{r[k]['acc']:.3f} [{r[k]['ci'][0]:.2f}, {r[k]['ci'][1]:.2f}]"
        if k in r
        else "–"
        for k in ns
    ]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  for section in SECTIONS:
    lines += section(out, ns)
  s = out["seconds"]
  lines.append(f"\nSampling {s['sampling']:.0f} s, total {s['total']:.0f} s.")
  return "\n".join(lines) + "\n"


def _searches(out, ns) -> list[str]:
  """Beam / ToT / MCTS: evaluator, children, FLOPs, speed."""
  if not out.get("searches"):
    return []
  lines = [
      "",
      (
          "Searches (column N = beam width, ToT breadth or MCTS "
          "simulations; k children per expansion):"
      ),
      "",
      (
          "| method | evaluator | k | children / problem | "
          "FLOPs / problem | expansions/s | seconds |"
      ),
      "|---|---|---|---|---|---|---|",
  ]
  lines += [
      f"| {k} | {r['verifier']} | {r['k']} | "
      f"{r['children_per_problem']:.1f} | "
      f"{r['flops_per_problem']:.2e} | {r['expansions_per_s']:.0f} | "
      f"{r['seconds']:.0f} |"
      for k, r in out["searches"].items()
  ]
  return lines


def _revision(out, ns) -> list[str]:
  """How often a revision fixes or breaks an attempt."""
  if not out.get("revision"):
    return []
  r = out["revision"]
  lines = [
      "",
      (
          "Sequential revision: revision policy fine-tuned on "
          f"{r['pairs']} (wrong -> correct) pairs of its own samples; "
          "a revision turns a wrong attempt right "
          f"{r['wrong_to_right']:.1%} of the time and a right one wrong "
          f"{r['right_to_wrong']:.1%}. Rows `sequential_last` / "
          "`sequential_majority` vs `majority` (parallel) at the same "
          "N."
      ),
  ]
  return lines


def _by_difficulty(out, ns) -> list[str]:
  """Accuracy of the SHOWN methods per difficulty bin."""
  if not out.get("by_difficulty"):
    return []
  lines = []
  show = [k for k in out["methods"] if k in SHOWN]
  lines += [
      "",
      "By difficulty (bins of the oracle p̂₁ over all samples): "
      "accuracy at N = "
      + ", ".join(str(k) for k in ns),
      "",
      "| bin | problems | " + " | ".join(show) + " |",
      "|---" * (len(show) + 2) + "|",
  ]
  for b, t in out["by_difficulty"].items():
    cells = [
        " / ".join(f"{t[k][nn]['acc']:.2f}" for nn in ns if nn in t[k])
        for k in show
    ]
    lines.append(f"| {b} | {out['bin_sizes'][b]} | " + " | ".join(cells) + " |")
  return lines


def _compute_optimal(out, ns) -> list[str]:
  """The compute-optimal choice vs the best fixed method."""
  if not out.get("compute_optimal"):
    return []
  lines = [
      "",
      (
          "Compute-optimal choice (difficulty from the agreement of "
          "the first samples; cross-fitted over two halves) vs the best "
          "single method, per FLOPs budget:"
      ),
      "",
      "| FLOPs / problem | compute-optimal | best fixed | fixed choice |",
      "|---|---|---|---|",
  ]
  lines += [
      f"| {r['budget']:.2e} | {r['compute_optimal']:.3f} | "
      f"{r['best_fixed']:.3f} | {', '.join(r['fixed_choice'])} |"
      for r in out["compute_optimal"]
  ]
  return lines


def _mcts_labels(out, ns) -> list[str]:
  """MCTS Q-value step labels vs exact ones."""
  if not out.get("mcts_labels"):
    return []
  r = out["mcts_labels"]
  lines = [
      "",
      (
          "MCTS step labels (Q > 0.5, rollout values) on "
          f"{r['problems']} train problems: {r['traces']} finished paths, "
          f"{r['steps']} steps, agreement with exact step labels "
          f"{r['agreement_with_exact']:.3f}; written to "
          f"`{os.path.basename(r['path'])}`."
      ),
  ]
  return lines


def _verifier_auroc(out, ns) -> list[str]:
  """How each verifier ranks a problem's own samples."""
  if not out.get("verifier_auroc"):
    return []
  n = out["n_max"]
  lines = [
      "",
      (
          f"How each verifier ranks a problem's own {n} samples. "
          "AUROC for sample correctness pooled over all samples (a "
          "difficulty detector scores high here) and within each "
          "problem (per sample / per distinct text: what best-of-N "
          "needs); the correctness of its top and its bottom choice, "
          "a uniform pick among the distinct texts, and top − majority "
          f"@{n} with its 95% interval:"
      ),
      "",
      (
          "| verifier | pooled | within problem | within, distinct | "
          "top | bottom | random distinct | top − majority |"
      ),
      "|---|---|---|---|---|---|---|---|",
  ]
  for k, v in out["verifier_auroc"].items():
    lo, hi = v["top_minus_majority_ci95"]
    flag = " ⚠ top ≈ bottom" if v["top_minus_bottom"][0] <= 0 else ""
    lines.append(
        f"| {k}{flag} | {v['pooled_auroc']:.3f} | "
        f"{v['within_problem_auroc']:.3f} | "
        f"{v['within_problem_auroc_distinct']:.3f} | {v['top']:.3f} | "
        f"{v['bottom']:.3f} | {v['random_distinct']:.3f} | "
        f"{v['top_minus_majority']:+.3f} [{lo:+.3f}, {hi:+.3f}] |"
    )
  return lines


def _budget_forcing(out, ns) -> list[str]:
  """s1 budget forcing: pass@1 and thinking length."""
  if not len(out.get("budget_forcing", [])) > 1:
    return []
  lines = [
      "",
      "s1 budget forcing (greedy):",
      "",
      "| budget | pass@1 | thinking tokens |",
      "|---|---|---|",
  ]
  lines += [
      f"| {r['budget']} | {r['pass@1']:.3f} | {r['think_tokens']:.1f} |"
      for r in out["budget_forcing"]
  ]
  return lines


SECTIONS = (
    _searches,
    _revision,
    _by_difficulty,
    _compute_optimal,
    _mcts_labels,
    _verifier_auroc,
    _budget_forcing,
)


def plot(workdir, out):

  def curves(ax, methods, x_name):
    for name, r in methods.items():
      ns = sorted(int(k) for k in r)
      x = (
          ns
          if x_name == "N"
          else [out["flops_per_problem"][name][k] for k in ns]
      )
      style = "--" if name in ("oracle", "pass@N") else "-"
      ax.plot(x, [r[k]["acc"] for k in ns], style, marker="o", ms=3, label=name)
    ax.set_xscale("log", base=2 if x_name == "N" else 10)
    ax.grid(alpha=0.3)

  for x_name, fname in (("N", "tts_vs_n.png"), ("FLOPs", "tts_vs_flops.png")):
    fig = Figure(figsize=(9, 5.5))
    ax = fig.subplots()
    curves(ax, out["methods"], x_name)
    if x_name == "FLOPs" and out.get("compute_optimal"):
      rows = out["compute_optimal"]
      ax.plot(
          [r["budget"] for r in rows],
          [r["compute_optimal"] for r in rows],
          "k-",
          lw=2.5,
          label="compute-optimal",
      )
    ax.axhline(out["greedy_pass@1"], color="k", lw=0.8, ls=":", label="greedy")
    ax.set(
        xlabel=f"{x_name} per problem",
        ylabel="accuracy",
        title=f"{out['task']}: accuracy vs {x_name}",
    )
    ax.legend(fontsize=6, ncol=3)
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, fname), dpi=100)
  bins = out.get("by_difficulty") or {}
  if bins:
    fig = Figure(figsize=(5 * len(bins), 4))
    axes = fig.subplots(1, len(bins), sharey=True)
    for ax, (b, t) in zip(axes, bins.items()):
      keep = {k: v for k, v in t.items() if k in SHOWN}
      curves(ax, keep, "N")
      ax.set(xlabel="N", title=f"{b}: {out['bin_sizes'][b]} problems")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, "tts_by_difficulty.png"), dpi=100)
