r"""GRPO vs PPO from the same SFT checkpoint, same seed, same sample budget.

  python -m reasoning_jax.compare --config=configs/default.py \
      --workdir=runs/compare

Runs the config's SFT stage once (resumable), then the RL stage under
``rl.algorithm=grpo`` and ``ppo`` from that policy, and writes to the workdir:
``compare.png`` (rollout reward and held-out pass@1 per step, both
algorithms), ``compare.md`` / ``compare.json`` (final pass@1, the paired
gain over SFT with its bootstrap 95% interval, seconds per step, bytes of
parameters + optimizer state, critic included). ``--seeds=0,1,2`` does this
once per seed in ``<workdir>/seed_<s>`` and writes ``compare_seeds.md`` /
``.json``: each algorithm's gain per seed, mean and range.
"""

import json
import os
import sys

from absl import flags
import jax
from matplotlib.figure import Figure
import numpy as np

from reasoning_jax import cli
from reasoning_jax import config as config_lib
from reasoning_jax.experiments import stats
from reasoning_jax.rl import algorithms as rl_algorithms
from reasoning_jax.train import context
from reasoning_jax.train import metrics
from reasoning_jax.train import rl
from reasoning_jax.train import sft
from reasoning_jax.train import state

DEFAULT_ALGORITHMS = ("grpo", "ppo")


def compare(config, workdir: str, algorithms=DEFAULT_ALGORITHMS) -> dict:
  """Each of ``algorithms`` (keys of ``rl/algorithms.ALGORITHMS``) from one
  SFT checkpoint; writes the report files (module docstring)."""
  ctx = context.build_context(config, workdir)
  workdir = ctx.logdir  # reports, metrics and plots (local).
  params, sft_result = sft.run_sft(ctx, None)
  sft_correct = sft_result.pop("correct")
  ref_bytes = state.tree_bytes(params)
  out = {"sft_pass@1": sft_result["pass@1"], "runs": {}}
  for alg in algorithms:
    _, result = rl.run_rl(ctx, params, algorithm=alg)
    paired = stats.paired_delta(sft_correct, result.pop("correct"))
    rows = metrics.read_metrics(workdir, f"rl_{alg}")
    step_s = [r["rollout_s"] + r["update_s"] for r in rows if "rollout_s" in r]
    out["runs"][alg] = {
        "pass@1": result["pass@1"],
        "delta_vs_sft": result["pass@1"] - sft_result["pass@1"],
        "delta_ci95": paired["ci95"],
        "fixed": paired["fixed"],
        "broken": paired["broken"],
        "seconds_per_step": float(np.median(step_s)),
        "params_plus_optimizer_bytes": result["state_bytes"],
        "reference_policy_bytes": ref_bytes,
        "steps": config.rl.steps,
        "samples": (
            config.rl.steps * config.rl.num_prompts * config.rl.group_size
        ),
    }
  runs = out["runs"]
  if "grpo" in runs and "ppo" in runs:
    out["grpo_over_ppo_memory"] = (
        runs["grpo"]["params_plus_optimizer_bytes"]
        / runs["ppo"]["params_plus_optimizer_bytes"]
    )
  if jax.process_index():  # only process 0 writes.
    return out
  with open(os.path.join(workdir, "compare.json"), "w") as f:
    json.dump(out, f, indent=2)
  with open(os.path.join(workdir, "compare.md"), "w") as f:
    f.write(_table(out))
  _plot(workdir, out["sft_pass@1"], algorithms)
  return out


def compare_seeds(
    config, workdir: str, seeds: list[int], algorithms=DEFAULT_ALGORITHMS
) -> dict:
  """``compare`` once per seed; ``compare_seeds.{json,md}`` in workdir."""
  runs = {}
  for seed in seeds:
    runs[seed] = compare(
        config_lib.derive(config, {"seed": seed}),
        os.path.join(workdir, f"seed_{seed}"),
        algorithms,
    )
  agg = {
      "seeds": seeds,
      "sft_pass@1": [runs[s]["sft_pass@1"] for s in seeds],
      "algorithms": {},
  }
  for alg in algorithms:
    rs = [runs[s]["runs"][alg] for s in seeds]
    d = [r["delta_vs_sft"] for r in rs]
    agg["algorithms"][alg] = {
        "delta": d,
        "ci95": [r["delta_ci95"] for r in rs],
        "fixed": [r["fixed"] for r in rs],
        "broken": [r["broken"] for r in rs],
        "pass@1": [r["pass@1"] for r in rs],
        "mean": float(np.mean(d)),
        "min": min(d),
        "max": max(d),
        "seconds_per_step": [r["seconds_per_step"] for r in rs],
        "params_plus_optimizer_bytes": rs[0]["params_plus_optimizer_bytes"],
    }
  if jax.process_index():
    return agg
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "compare_seeds.json"), "w") as f:
    json.dump(agg, f, indent=2)
  with open(os.path.join(workdir, "compare_seeds.md"), "w") as f:
    f.write(_seeds_table(agg))
  return agg


def _seeds_table(agg) -> str:
  lines = [
      "| algorithm | "
      + " | ".join(
          f"seed {s}: Δ [95% CI] (fixed / broken)" for s in agg["seeds"]
      )
      + " | mean Δ (range) | s/step (median per seed) | params+opt MiB |",
      "|---|" + "---|" * (len(agg["seeds"]) + 3),
  ]
  for alg, a in agg["algorithms"].items():
    cells = [
        f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}] ({fx} / {br})"
        for d, (lo, hi), fx, br in zip(
            a["delta"], a["ci95"], a["fixed"], a["broken"]
        )
    ]
    lines.append(
        f"| {alg} | "
        + " | ".join(cells)
        + f" | {a['mean']:+.3f} ({a['min']:+.3f} to {a['max']:+.3f}) | "
        + ", ".join(f"{x:.2f}" for x in a["seconds_per_step"])
        + f" | {a['params_plus_optimizer_bytes'] / 2**20:.2f} |"
    )
  sft = ", ".join(f"{x:.3f}" for x in agg["sft_pass@1"])
  return (
      f"SFT start per seed: held-out greedy pass@1 {sft}\n\n"
      + "\n".join(lines)
      + "\n"
  )


def _table(out) -> str:
  lines = [
      f"SFT start: held-out greedy pass@1 = {out['sft_pass@1']:.3f}\n",
      (
          "| algorithm | pass@1 | Δ vs SFT [95% CI] | fixed / broken | "
          "s/step | params+opt MiB |"
      ),
      "|---|---|---|---|---|---|",
  ]
  for alg, r in out["runs"].items():
    lo, hi = r["delta_ci95"]
    lines.append(
        f"| {alg} | {r['pass@1']:.3f} | {r['delta_vs_sft']:+.3f} "
        f"[{lo:+.3f}, {hi:+.3f}] | {r['fixed']} / {r['broken']} | "
        f"{r['seconds_per_step']:.2f} | "
        f"{r['params_plus_optimizer_bytes'] / 2**20:.2f} |"
    )
  if "grpo_over_ppo_memory" in out:
    lines.append(f"\nGRPO / PPO memory: {out['grpo_over_ppo_memory']:.2f}")
  return "\n".join(lines) + "\n"


def _plot(workdir, sft_pass, algorithms):
  fig = Figure(figsize=(11, 4))
  ax1, ax2 = fig.subplots(1, 2)
  for alg in algorithms:
    rows = metrics.read_metrics(workdir, f"rl_{alg}")
    r = [(x["step"], x["reward_mean"]) for x in rows if "reward_mean" in x]
    if r:
      s, v = zip(*r)
      k = max(1, len(v) // 8)  # moving average over ~12% of the run.
      smooth = [
          sum(v[max(0, i - k + 1) : i + 1]) / len(v[max(0, i - k + 1) : i + 1])
          for i in range(len(v))
      ]
      ax1.plot(s, smooth, label=alg)
    e = [(0, sft_pass)] + [
        (x["step"], x.get("eval/pass@1", x.get("final/pass@1")))
        for x in rows
        if "eval/pass@1" in x or "final/pass@1" in x
    ]
    if e:
      ax2.plot(*zip(*e), marker="o", label=alg)
  ax1.set(
      xlabel="RL step", ylabel="rollout reward (moving avg)", title="Reward"
  )
  ax2.set(
      xlabel="RL step",
      ylabel="held-out greedy pass@1",
      ylim=(0, 1),
      title=(
          "Held-out accuracy (periodic: eval.periodic_problems;\n"
          "first and last: eval.num_problems)"
      ),
  )
  for ax in (ax1, ax2):
    ax.legend()
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "compare.png"), dpi=100)


def define_flags() -> None:
  cli.define_flags("configs/default.py", "runs/compare", seeds=True)
  flags.DEFINE_list(
      "algorithms",
      list(DEFAULT_ALGORITHMS),
      "RL algorithms to compare (keys of rl/algorithms.ALGORITHMS).",
  )


def main(argv):
  del argv  # cli.run refuses extra arguments.
  f = flags.FLAGS
  known = tuple(rl_algorithms.ALGORITHMS)
  bad = [a for a in f.algorithms if a not in known]
  if bad or not f.algorithms:
    sys.exit(f"error: --algorithms: {bad or 'none'}; known: {', '.join(known)}")
  seeds = cli.seeds_flag()
  if seeds:
    text = _seeds_table(
        compare_seeds(f.config, f.workdir, seeds, tuple(f.algorithms))
    )
  else:
    text = _table(compare(f.config, f.workdir, tuple(f.algorithms)))
  if jax.process_index() == 0:
    print(text)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
