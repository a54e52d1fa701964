r"""Benchmark: rollout tokens/s, GRPO / PPO step split, compile, memory, MFU.

  python -m reasoning_jax.bench --config=configs/bench.py --workdir=runs/bench

Runs the workload of ``configs/bench.py`` (by default the standard
``peers-standard-v1``: a random-init policy, P prompts × G samples with a
fixed number of new tokens, reward = fraction of even ids) through the same
jitted sampler and learner the RL stage uses. After ``bench.warmup_reps``
untimed repetitions it reports medians over ``bench.timed_reps``:

- ``rollout``: sampler wall time and new tokens/s;
- ``grpo`` / ``ppo``: the full step split into rollout, log-prob passes
  (reference; plus values under PPO; the old-policy pass is skipped on the
  on-policy first pass) with advantages, and the update;
- compile seconds of each jitted function (ahead-of-time ``lower().compile()``);
- parameters + optimizer-state bytes per algorithm (critic included);
- model FLOPs (matmuls + attention, from the config), achieved FLOP/s and MFU
  against ``bench.peak_flops`` or, when 0, a measured float32 matmul peak;
- ``logp_mismatch``: max and mean |sampler log-prob − learner log-prob| of
  the same sampled tokens (cached decoding vs one full-sequence pass, at the
  model's precision); it is in the notes column as ``logp Δ``;
- the rollout against its roofline: prefill at peak FLOP/s plus the bytes
  decoding must read (weights each step, the live KV cache) at
  ``bench.peak_bandwidth`` or, when 0, a measured copy's bytes/s.

Writes ``bench.json`` in the workdir and appends a row to ``--table``
(``BENCHMARKS.md``) with device, versions, date and commit.
"""

import datetime
import functools
import importlib.metadata as md
import json
import os
import subprocess
import time
from typing import Any, Callable, NamedTuple

from absl import flags
from absl import logging
import flax.linen as nn
import jax
from ml_collections import config_flags
import numpy as np

from reasoning_jax import cli
from reasoning_jax import config as config_lib
from reasoning_jax import timing
from reasoning_jax.config import rl as rl_config
from reasoning_jax.models import CausalLM
from reasoning_jax.models import flops
from reasoning_jax.models import ModelConfig
from reasoning_jax.parallel import sharding
from reasoning_jax.sampling.sampler import make_sampler
from reasoning_jax.train import learner
from reasoning_jax.train import learner_step
from reasoning_jax.train import rollout as rollout_lib
from reasoning_jax.train import state as state_lib


def define_flags() -> None:
  # Compile seconds are a measurement here: no persistent cache by default.
  cli.define_flags("configs/bench.py", "runs/bench", compilation_cache="off")
  flags.DEFINE_string(
      "table",
      "BENCHMARKS.md",
      "Markdown table the result row is appended to ('' = none).",
  )


class Workload(NamedTuple):
  """The benchmark's model, mesh and fixed prompts (P prompts x G copies)."""

  model: CausalLM
  mesh: jax.sharding.Mesh
  params: Any  # sharded policy parameters.
  batch_sh: jax.sharding.NamedSharding
  sample_fn: Callable
  ids: np.ndarray  # [P * G, L] prompt ids, prompt i repeated G times.
  valid: np.ndarray  # [P * G, L] all True.


def run(config, workdir: str) -> dict:
  """Runs the benchmark described by ``config`` and returns the report."""
  config_lib.validate(config)
  b_cfg, rc = config.bench, rl_config.resolve(config.rl)
  w = workload(config)
  report = {
      "config": {k: config[k].to_dict() for k in ("model", "data")},
      "rl": {
          k: rc[k]
          for k in (
              "num_prompts",
              "group_size",
              "temperature",
              "learning_rate",
              "clip_eps",
              "kl_beta",
          )
      },
      "params": state_lib.param_count(w.params),
      "compile_s": {},
  }
  rb = b_cfg.rollout_batch or len(w.ids)
  report["rollout"] = _time_rollout(w, config, rb, report["compile_s"])
  report["logp_mismatch"] = _logp_mismatch(w, rc.temperature)
  report["steps"] = {}
  for alg in [a for a in b_cfg.algorithms.split(",") if a]:
    report["steps"][alg] = _time_step(config, w, report, algorithm=alg)
    report["steps"][alg]["microbatches"] = rc.microbatches
  if "grpo" in report["steps"] and "ppo" in report["steps"]:
    report["grpo_over_ppo_memory"] = (
        report["memory_bytes_grpo"] / report["memory_bytes_ppo"]
    )

  _peak_and_roofline(report, config, rb)
  report["device"] = (
      f"{jax.device_count()} x {jax.devices()[0].device_kind}"
      f" ({jax.default_backend()})"
  )
  report["versions"] = _versions()
  report["date"] = datetime.date.today().isoformat()
  report["commit"] = _commit()
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "bench.json"), "w") as f:
      json.dump(report, f, indent=2)
  return report


def workload(config) -> Workload:
  """Random-init policy on the config's mesh, its sampler (eos -1: never
  stops, exactly ``max_new_tokens`` per sequence) and the workload prompts
  (ids in [3, vocab) from ``bench.prompt_seed``)."""
  m, rc = config.model, config.rl
  mesh = sharding.make_mesh(config.mesh)
  rules = config.logical_axis_rules
  model = CausalLM(ModelConfig(**m.to_dict()))
  pl, n = config.data.max_prompt_len, config.data.max_new_tokens
  prompts = (
      np.random.default_rng(config.bench.prompt_seed)
      .integers(3, m.vocab_size, size=(rc.num_prompts, pl))
      .astype(np.int32)
  )
  ids = np.repeat(prompts, rc.group_size, 0)
  dummy = np.ones((1, pl + n), np.int32)
  params = nn.unbox(
      jax.jit(lambda k: model.init(k, dummy, dummy, dummy > 0)["params"])(
          jax.random.PRNGKey(0)
      )
  )
  p_sh = sharding.param_shardings(model, mesh, rules)
  sample_fn = make_sampler(
      model,
      max_new_tokens=n,
      eos_id=-1,
      group_size=rc.group_size,
      mesh=mesh,
      rules=rules,
      param_shardings=p_sh,
  )
  return Workload(
      model=model,
      mesh=mesh,
      params=jax.device_put(params, p_sh),
      batch_sh=sharding.batch_sharding(mesh, rules),
      sample_fn=sample_fn,
      ids=ids,
      valid=np.ones_like(ids, bool),
  )


def _time_rollout(w: Workload, config, rb: int, compile_s: dict) -> dict:
  """The sampler alone at batch ``rb`` (the workload prompts, cycled)."""
  m, pl, n = (
      config.model,
      config.data.max_prompt_len,
      config.data.max_new_tokens,
  )
  r_ids = np.resize(w.ids, (rb, pl))
  r_args = (
      w.params,
      jax.device_put(r_ids, w.batch_sh),
      jax.device_put(np.ones_like(r_ids, bool), w.batch_sh),
      jax.random.PRNGKey(1),
      config.rl.temperature,
  )
  compile_s["sampler"] = timing.compile_seconds(w.sample_fn, *r_args)
  med, times = timing.median_time(
      lambda: jax.block_until_ready(w.sample_fn(*r_args)),
      config.bench.warmup_reps,
      config.bench.timed_reps,
  )
  r_flops = flops.rollout_flops(m, rb, pl, n)
  logging.info(
      "rollout: batch %d, %.3f s, %.0f new tokens/s, compile %.1f s",
      rb,
      med,
      rb * n / med,
      compile_s["sampler"],
  )
  return {
      "batch": rb,
      "seconds": med,
      "times": times,
      "new_tokens_per_s": rb * n / med,
      "model_flops": r_flops,
      "flops_per_s": r_flops / med,
  }


def _logp_mismatch(w: Workload, temperature: float) -> dict:
  """Training-inference mismatch: the sampler's log-probs (cached decoding)
  against the learner's full-sequence pass on the same tokens, at the
  step's batch. Same model, same precision: only kernel order differs."""
  out = w.sample_fn(
      w.params, w.ids, w.valid, jax.random.PRNGKey(3), temperature
  )
  logp_fn = jax.jit(
      functools.partial(learner_step.completion_logprobs, w.model)
  )
  learner_logp = logp_fn(w.params, w.ids, w.valid, out.tokens, out.mask)[0]
  gap = np.abs(np.asarray(out.logprobs) - np.asarray(learner_logp))[
      np.asarray(out.mask)
  ]
  logging.info(
      "sampler vs learner log-prob: max |diff| %.2e, mean %.2e",
      gap.max(),
      gap.mean(),
  )
  return {"max": float(gap.max()), "mean": float(gap.mean())}


def _rollout(w: Workload, policy, key, temperature: float):
  """A workload rollout; reward: the share of even token ids (no
  statistics)."""
  out = jax.device_get(w.sample_fn(policy, w.ids, w.valid, key, temperature))
  reward = ((out.tokens % 2 == 0) & out.mask).sum(1) / out.mask.sum(1)
  return rollout_lib.Rollout(
      seqs=rollout_lib.Sequences(
          prompt_ids=w.ids,
          prompt_valid=w.valid,
          tokens=out.tokens,
          mask=out.mask,
      ),
      rewards=reward.astype(np.float32),
      truncated=np.zeros(len(w.ids), bool),
  )


def _time_step(config, w: Workload, report, *, algorithm: str) -> dict:
  """One algorithm's full RL step (rollout, log-probs, update), timed in
  parts after warm-up; its memory and compile times go into ``report``."""
  rc, m, alg = rl_config.resolve(config.rl, algorithm), config.model, algorithm
  pl, n = config.data.max_prompt_len, config.data.max_new_tokens
  warm, reps = config.bench.warmup_reps, config.bench.timed_reps
  state, state_sh, critic, tx = learner_step.build_learner(
      w.model,
      w.params,
      rc,
      w.mesh,
      config.logical_axis_rules,
      pl + n,
      config.seed,
      algorithm=alg,
  )
  ref = learner_step.reference_copy(state, state_sh)
  fns = learner_step.make_learner_fns(
      w.model, critic, tx, rc, state_sh, w.batch_sh, algorithm=alg
  )
  report["memory_bytes_" + alg] = state_lib.tree_bytes(
      (state.params, state.opt_state)
  )
  rollout = functools.partial(_rollout, w, temperature=rc.temperature)
  ro = rollout(state.params["policy"], jax.random.PRNGKey(2))
  batch, _ = learner.prepare_batch(ro, state, ref, fns, rc, w.batch_sh)
  report["compile_s"][f"{alg}_logprob"] = timing.compile_seconds(
      fns.logp,
      ref,
      batch.prompt_ids,
      batch.prompt_valid,
      batch.tokens,
      batch.mask,
  )
  report["compile_s"][f"{alg}_step"] = timing.compile_seconds(
      fns.step, state, batch
  )
  parts = {"rollout": [], "logprobs": [], "update": [], "total": []}
  for i in range(warm + reps):
    t0 = time.perf_counter()
    ro = rollout(state.params["policy"], jax.random.PRNGKey(10 + i))
    t1 = time.perf_counter()
    batch, _ = learner.prepare_batch(ro, state, ref, fns, rc, w.batch_sh)
    jax.block_until_ready(batch)
    t2 = time.perf_counter()
    state, metrics = learner.update(
        state, batch, fns.step, fns.take, rc, jax.random.PRNGKey(i)
    )
    jax.block_until_ready((state, metrics))
    t3 = time.perf_counter()
    if i >= warm:
      for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
        parts[k].append(v)
  t_flops = learner_step.step_flops(m, rc, len(w.ids), pl + n, algorithm=alg)
  med = {k: float(np.median(v)) for k, v in parts.items()}
  logging.info("%s step: %s", alg, {k: round(v, 3) for k, v in med.items()})
  return {
      **{f"{k}_s": v for k, v in med.items()},
      "learner_model_flops": t_flops,
      "learner_flops_per_s": t_flops / (med["logprobs"] + med["update"]),
      "final_loss": float(metrics["loss"]),
  }


def _peak_and_roofline(report, config, rb: int) -> None:
  """Peak FLOP/s and bandwidth (the config's, or measured), and from them
  MFU and the rollout's roofline fraction, into ``report``."""
  b_cfg, m, g = config.bench, config.model, config.rl.group_size
  pl, n = config.data.max_prompt_len, config.data.max_new_tokens
  if b_cfg.peak_flops > 0:
    peak, peak_src = float(b_cfg.peak_flops), "config"
  else:
    measured = timing.measure_peak_flops()
    peak, peak_src = max(measured.values()), f"measured {measured}"
  report["peak_flops"], report["peak_source"] = peak, peak_src
  report["rollout"]["mfu"] = report["rollout"]["flops_per_s"] / peak
  if b_cfg.peak_bandwidth > 0:
    bw, bw_src = float(b_cfg.peak_bandwidth), "config"
  else:
    bw, bw_src = timing.measure_bandwidth(), "measured copy"
  report["peak_bandwidth"], report["bandwidth_source"] = bw, bw_src
  ro_rep = report["rollout"]
  ro_rep["min_bytes"] = flops.rollout_bytes(m, rb, pl, n)
  ro_rep["roofline_s"] = flops.rollout_roofline_s(m, rb, pl, n, g, peak, bw)
  ro_rep["roofline_fraction"] = ro_rep["roofline_s"] / ro_rep["seconds"]
  for s in report["steps"].values():
    s["learner_mfu"] = s["learner_flops_per_s"] / peak


def _versions() -> str:
  out = []
  for pkg in ("jax", "jaxlib", "flax", "optax"):
    try:
      out.append(f"{pkg} {md.version(pkg)}")
    except md.PackageNotFoundError:
      pass
  return ", ".join(out)


def _commit() -> str:
  try:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return "unknown"


HEADER = (
    "| date | commit | device | versions | workload | rollout tok/s "
    "(s) | GRPO step s (rollout / logp / update) | PPO step s | "
    "compile s (sampler / GRPO step) | GRPO/PPO memory | MFU rollout / "
    "GRPO learner | rollout / roofline | notes |\n|---|---|---|---|---|"
    "---|---|---|---|---|---|---|---|\n"
)


def table_row(r: dict, workload: str, notes: str = "") -> str:
  s = r["steps"]
  g = s.get("grpo", {})
  pp = s.get("ppo", {})

  def f(x, fmt="{:.2f}"):
    return fmt.format(x) if x is not None else "–"

  return (
      f"| {r['date']} | {r['commit']} | {r['device']} | {r['versions']} | "
      f"{workload} | {r['rollout']['new_tokens_per_s']:,.0f} "
      f"({r['rollout']['seconds']:.2f}) | "
      f"{f(g.get('total_s'))} ({f(g.get('rollout_s'))} / "
      f"{f(g.get('logprobs_s'))} / {f(g.get('update_s'))}) | "
      f"{f(pp.get('total_s'))} | "
      f"{r['compile_s']['sampler']:.1f} / "
      f"{f(r['compile_s'].get('grpo_step'), '{:.1f}')} | "
      f"{f(r.get('grpo_over_ppo_memory'))} | "
      f"{r['rollout']['mfu']:.1%} / {f(g.get('learner_mfu'), '{:.1%}')} | "
      f"{f(r['rollout'].get('roofline_fraction'), '{:.1%}')} | "
      f"{notes}{'; ' if notes else ''}logp Δ max "
      f"{r['logp_mismatch']['max']:.1e} |\n"
  )


def main(argv):
  del argv  # cli.run refuses extra arguments.
  config = flags.FLAGS.config
  report = run(config, flags.FLAGS.workdir)
  workload = os.path.basename(
      config_flags.get_config_filename(flags.FLAGS["config"])
  )
  row = table_row(report, workload, config.bench.notes)
  print(HEADER + row, end="")
  table = flags.FLAGS.table
  if table:
    new = not os.path.exists(table)
    with open(table, "a", encoding="utf-8") as f:
      if new:
        f.write(
            "# Benchmarks\n\nRows appended by `python -m "
            "reasoning_jax.bench`; see its docstring for what each "
            "column measures.\n\n"
            + HEADER
        )
      f.write(row)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
