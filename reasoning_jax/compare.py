r"""RL variants compared over seeds, on a split nobody tuned on.

  python -m reasoning_jax.compare --config=configs/compare.py \
      --workdir=runs/study [--config.study.seeds=0,1,2,3,4]
  python -m reasoning_jax.compare --config=configs/compare.py:quick \
      --workdir=runs/study_quick

A study (``config.study``) is levels × seeds × variants × regimes. For each
level of ``study.axis`` (a field that defines the cold start, e.g.
``sft.bare_share``) and each seed, the config's SFT stage runs once in
``<workdir>/<axis>=<level>/seed_<s>`` (resumable; every variant starts from
it). Each variant (``study.variants``: an algorithm of
``rl/algorithms.ALGORITHMS`` as published, or ``algorithm@field=value...``)
under each regime (``on_policy``: one pass over the batch as one minibatch;
``off_policy``: several passes over several minibatches, where the clip
acts) then trains its own RL stage ``rl_<variant>_<regime>`` there, and
records (``stages/rl_<...>.json``; a rerun skips finished ones):

- its dev curve (greedy pass@1 on the dev split every ``rl.eval_every``
  steps, from the SFT start to the end), its area (the mean over the run),
  steps and samples to ``study.threshold``;
- test greedy pass@1 with the paired change over SFT, per operation count;
  sampled pass@k (k = 1 ... ``study.passk_n``) before and after RL;
- entropy, KL, clip fractions, completion length of right and wrong
  samples (last fifth of training), seconds per step, state bytes.

Across seeds (the run is the unit) every number gets its mean, 95%
t-interval and worst seed; each variant is paired per seed against
``study.reference`` (same level and regime), and a difference "differs"
(interval excludes 0), is "equivalent" (inside ±``study.margin``) or is
"inconclusive". Writes ``<study.name>.json``, ``.md`` and ``.png`` (default
``study``): studies that share a workdir share cold starts and variants.
"""

import contextlib
import os
import re
import time

from absl import flags
from absl import logging
import jax
from matplotlib.figure import Figure
import numpy as np

from reasoning_jax import cli
from reasoning_jax import config as config_lib
from reasoning_jax import files
from reasoning_jax import pipeline
from reasoning_jax.config import rl as rl_config
from reasoning_jax.config import study as study_config
from reasoning_jax.experiments import rl_claims
from reasoning_jax.experiments import rl_probes
from reasoning_jax.experiments import stats
from reasoning_jax.rl import algorithms
from reasoning_jax.train import checkpoint
from reasoning_jax.train import context
from reasoning_jax.train import metrics
from reasoning_jax.train import rejection
from reasoning_jax.train import rl
from reasoning_jax.train import stages as stages_lib

REGIMES = ("on_policy", "off_policy")
# Per-seed numbers aggregated across seeds, and paired against the reference.
SUMMARY = (
    "test_pass@1",
    "gain",
    "dev_auc",
    "steps_to_threshold",
    "samples_to_threshold",
    "pass@1_sampled",
    "pass@max",
    "entropy",
    "kl",
    "clip_frac",
    "length_correct",
    "length_wrong",
    "seconds_per_step",
)
PAIRED = ("test_pass@1", "dev_auc", "steps_to_threshold", "pass@max")


# Baselines a variant may name instead of an algorithm: no RL, from the same
# cold start, paired per seed like the rest (the regime does not apply).
#   prefill: the cold-start policy with "<think>\n" written after every test
#            and dev prompt and before every pass@k sample (thinking forced
#            at test time, no training);
#   rs:      rejection-sampling SFT (STaR / RFT) on the policy's own correct
#            samples, as many samples as the RL stage draws (rl.steps ×
#            rl.num_prompts × rl.group_size at rl.temperature; rs.steps and
#            rs.mix as configured).
BASELINES = ("prefill", "rs")
PREFILL = "<think>\n"  # the prefill baseline's forced opening.


def parse_variant(spec: str) -> tuple[str, dict]:
  """``"ppo@rl.lam=1.0"`` -> (``"ppo_rl_lam_1_0"``, {"rl.algorithm": "ppo",
  "rl.lam": 1.0}); values read as int, float, bool or string. A
  ``BASELINES`` name gives ``{"kind": name}`` and its own overrides."""
  algorithm, *sets = spec.split("@")
  if algorithm not in algorithms.ALGORITHMS and algorithm not in BASELINES:
    raise config_lib.ConfigError(
        f"config.study.variants: {spec!r}: unknown algorithm {algorithm!r}; "
        f"known: {', '.join(algorithms.ALGORITHMS)} and the baselines "
        f"{', '.join(BASELINES)}"
    )
  out = (
      {"kind": algorithm}
      if algorithm in BASELINES
      else {"rl.algorithm": algorithm}
  )
  out.update(
      _field_values(
          sets, f"config.study.variants: {spec!r}: expected field=value"
      )
  )
  return re.sub(r"[^A-Za-z0-9]+", "_", spec).strip("_"), out


def _field_values(entries: list[str], error: str) -> dict:
  """``["rl.lam=1.0", ...]`` -> ``{"rl.lam": 1.0, ...}`` (``_value``); an
  entry without ``=`` raises ConfigError(``error``)."""
  out = {}
  for entry in entries:
    field, eq, text = entry.partition("=")
    if not eq:
      raise config_lib.ConfigError(error)
    out[field] = _value(text)
  return out


def _value(text: str):
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return {"true": True, "false": False}.get(text.lower(), text)


def regime_overrides(regime: str, rc, study) -> dict:
  """How the RL update runs in ``regime`` (``REGIMES``) for a resolved
  ``rl`` section: on-policy, one pass over the batch as one minibatch (the
  ratio stays 1: the clip never acts); off-policy,
  ``study.off_policy_updates`` passes over ``off_policy_minibatches``
  shuffled minibatches (later updates see older samples: it acts)."""
  batch = rc.num_prompts * rc.group_size
  if regime == "on_policy":
    return {"rl.num_updates": 1, "rl.minibatch_size": batch}
  return {
      "rl.num_updates": study.off_policy_updates,
      "rl.minibatch_size": batch // study.off_policy_minibatches,
  }


def _levels(study) -> list:
  """The levels' labels: a value (``0.7``) or a value with the cold-start
  fields that level sets (``"0.97@sft.steps=1200"``: a longer schedule
  where the cold start needs one)."""
  return [
      x if "@" in x else _value(x) for x in study.levels.split(",") if x
  ] or [None]


def level_overrides(axis: str, level) -> dict:
  """The config fields a level sets: ``{axis: value, **its own}``."""
  if not axis:
    return {}
  value, *sets = str(level).split("@")
  return {
      axis: _value(value),
      **_field_values(
          sets, f"config.study.levels: {level!r}: expected value@field=value"
      ),
  }


def _seeds(study, override) -> list[int]:
  return override or [int(x) for x in study.seeds.split(",") if x]


def level_dir(workdir: str, axis: str, level) -> str:
  return os.path.join(workdir, f"{axis}={level}" if axis else "base")


def run_study(config, workdir: str, seeds=None) -> dict:
  """The whole study (module docstring); returns ``study.json``'s dict."""
  config_lib.validate(config)
  s = config.study
  variants = [parse_variant(v) for v in s.variants.split(",") if v]
  names = [n for n, _ in variants]
  if s.reference not in [v for v in s.variants.split(",")] + names:
    raise config_lib.ConfigError(
        f"config.study.reference={s.reference!r}: not one of study.variants"
    )
  unknown = {
      k
      for k in study_config.learning_rates(s)
      if k.partition(":")[0] not in algorithms.ALGORITHMS
      or k.partition(":")[2] not in ("",) + REGIMES
  }
  if unknown:
    raise config_lib.ConfigError(
        f"config.study.learning_rates: unknown algorithm(s) {sorted(unknown)}"
        f"; known: {', '.join(algorithms.ALGORITHMS)}, each optionally "
        f"followed by :{' or :'.join(REGIMES)}"
    )
  for level in _levels(s):
    level_overrides(s.axis, level)  # a malformed level fails before SFT.
  regimes = [r for r in s.regimes.split(",") if r]
  t0, runs = time.perf_counter(), []
  lock = (
      stages_lib.workdir_lock(context.local_dir(workdir))
      if jax.process_index() == 0
      else contextlib.nullcontext()
  )
  probes = []
  with lock:
    for i, level in enumerate(_levels(s)):
      for seed in _seeds(s, seeds):
        runs += _one_cold_start(config, workdir, level, seed, variants, regimes)
        if i == 0 and s.probe_group_sizes:
          probes.append(_probe(config, workdir, level, seed))
  out = aggregate(runs, config, names, regimes)
  if probes:
    out["probe"] = probe_summary(probes)
  out["claims"] = rl_claims.claims(runs, out, out.get("probe"))
  out["wall_seconds"] = time.perf_counter() - t0
  if jax.process_index() == 0:
    stem = os.path.join(context.local_dir(workdir), s.name)
    files.write_json(f"{stem}.json", out, indent=2)
    with files.atomic_write(f"{stem}.md") as f:
      f.write(markdown(out))
    plot(out, f"{stem}.png")
  return out


def _one_cold_start(config, workdir, level, seed, variants, regimes):
  """The SFT stage of one (level, seed), then every variant × regime."""
  s = config.study
  base = {"seed": seed, **level_overrides(s.axis, level)}
  wd = os.path.join(level_dir(workdir, s.axis, level), f"seed_{seed}")
  sft_cfg = config_lib.derive(config, {**base, "stages": "sft"})
  pipeline.train_and_evaluate(sft_cfg, wd)
  start = _start(sft_cfg, wd)
  out, lrs = [], study_config.learning_rates(s)
  for name, sets in variants:
    kind = sets.get("kind", "rl")
    sets = {k: v for k, v in sets.items() if k != "kind"}
    if kind != "rl":  # one run, shown in every regime's table.
      cfg = config_lib.derive(config, {**base, "stages": "sft", **sets})
      r = _baseline(kind, cfg, wd, name, start)
    for regime in regimes:
      if kind == "rl":
        alg = sets["rl.algorithm"]
        lr = lrs.get(f"{alg}:{regime}", lrs.get(alg))
        own = {} if lr is None else {"rl.learning_rate": lr}
        # The variant's own value wins over the study's learning rate.
        cfg = config_lib.derive(
            config, {**base, "stages": "sft,rl", **own, **sets}
        )
        cfg = config_lib.derive(
            cfg, regime_overrides(regime, rl_config.resolve(cfg.rl), s)
        )
        r = _variant(cfg, wd, f"{name}_{regime}", start)
      out.append({
          **r,
          "level": level,
          "seed": seed,
          "variant": name,
          "regime": regime,
      })
  return out


def _probe(config, workdir, level, seed) -> dict:
  """The gradient-variance probe at one seed's cold start (resumable)."""
  s = config.study
  cfg = config_lib.derive(
      config, {"seed": seed, "stages": "sft", **level_overrides(s.axis, level)}
  )
  wd = os.path.join(level_dir(workdir, s.axis, level), f"seed_{seed}")
  sizes = [int(x) for x in s.probe_group_sizes.split(",") if x]
  definition = {
      **stages_lib.stage_definition(cfg, ["sft"], 0),
      "rl.algorithm": cfg.rl.algorithm,
      "sizes": sizes,
      "prompts": s.probe_prompts,
      "repeats": s.probe_repeats,
  }
  logdir = context.local_dir(wd)
  record = stages_lib.read_record(stages_lib.record_path(logdir, "probe"))
  if record is not None and record.get("definition") == definition:
    return record["probe"]
  params = jax.tree.map(jax.numpy.asarray, checkpoint.load_params(wd, "sft"))
  probe = rl_probes.gradient_variance(
      cfg,
      wd,
      params,
      group_sizes=sizes,
      num_prompts=s.probe_prompts,
      repeats=s.probe_repeats,
      seed=seed,
  )
  stages_lib.write_record(
      logdir, "probe", {"probe": probe, "definition": definition}
  )
  return probe


def probe_summary(probes) -> dict:
  """The probe's log-slopes across seeds (and mean variance per G)."""
  out = {"group_sizes": probes[0]["group_sizes"]}
  for key in ("fixed_prompts", "fresh_prompts"):
    out[key] = {
        "log_slope": stats.across_seeds([p[key]["log_slope"] for p in probes]),
        "variance": np.mean([p[key]["variance"] for p in probes], 0).tolist(),
    }
  return out


def _start(cfg, wd) -> dict:
  """The cold start's own numbers (kept in ``stages/sft_study.json``): dev
  and test greedy pass@1, test verdicts, sampled pass@k."""
  s = cfg.study
  definition = {
      **stages_lib.stage_definition(cfg, ["sft"], 0),
      **{f"study.{k}": s[k] for k in ("passk_problems", "passk_n")},
      "study.passk_temperature": s.passk_temperature,
      "eval.periodic_problems": cfg.eval.periodic_problems,
  }
  path = stages_lib.record_path(context.local_dir(wd), "sft_study")
  record = stages_lib.read_record(path)
  if record is not None and record.get("definition") == definition:
    return record
  ctx = context.build_context(cfg, wd)
  params = jax.tree.map(jax.numpy.asarray, checkpoint.load_params(wd, "sft"))
  test = ctx.evaluate(params)
  record = {
      "dev_pass@1": ctx.evaluate(params, split="dev")["pass@1"],
      "test_pass@1": test["pass@1"],
      "correct": np.asarray(test["correct"]).tolist(),
      "by_difficulty": test.get("by_difficulty", {}),
      "passk": _passk(ctx, params, cfg.seed),
      "definition": definition,
  }
  stages_lib.write_record(ctx.logdir, "sft_study", record)
  return record


def _passk(ctx, params, seed: int, prefill: str = "") -> dict:
  s = ctx.config.study
  return ctx.pass_at_k(
      params,
      s.passk_problems,
      s.passk_n,
      s.passk_temperature,
      seed=seed + 101,
      prefill=prefill,
  )


def _variant(cfg, wd, name: str, start: dict) -> dict:
  """One variant's RL stage from the cold start, measured (resumable)."""
  stage = f"rl_{name}"
  definition = {
      **stages_lib.stage_definition(cfg, ["sft", "rl"], 1),
      **{f"study.{k}": cfg.study[k] for k in ("passk_problems", "passk_n")},
      "study.passk_temperature": cfg.study.passk_temperature,
  }
  logdir = context.local_dir(wd)
  record = stages_lib.read_record(stages_lib.record_path(logdir, stage))
  if record is not None:
    if record.get("definition") != definition:
      raise config_lib.ConfigError(
          f"{stage} in {wd} finished with another config: use a new workdir"
      )
    return record["measured"]
  logging.info("study: %s in %s", stage, wd)
  ctx = context.build_context(cfg, wd)
  params = jax.tree.map(jax.numpy.asarray, checkpoint.load_params(wd, "sft"))
  params, result = rl.run_rl(ctx, params, stage=stage)
  final_dev = ctx.evaluate(params, split="dev")["pass@1"]
  rows = metrics.read_metrics(logdir, stage)
  measured = measure(
      rows,
      start,
      result,
      final_dev,
      _passk(ctx, params, cfg.seed),
      rl_config.resolve(cfg.rl),
      cfg.study.threshold,
  )
  stages_lib.write_record(
      logdir, stage, {"measured": measured, "definition": definition}
  )
  return measured


def _outcome(start, result, curve, passk) -> dict:
  """What every variant reports, RL or baseline: test pass@1 and its
  paired change over the cold start, per level, the dev curve and its
  area, sampled pass@k before and after."""
  paired = stats.paired_delta(start["correct"], result["correct"])
  return {
      "curve": curve,
      "test_pass@1": result["pass@1"],
      "gain": paired["delta"],
      "gain_ci95": paired["ci95"],
      "fixed": paired["fixed"],
      "broken": paired["broken"],
      "by_difficulty": result.get("by_difficulty", {}),
      "dev_auc": _auc(curve),
      "passk_before": start["passk"]["pass@k"],
      "passk_after": passk["pass@k"],
      "pass@1_sampled": passk["pass@k"]["1"],
      "pass@max": max(passk["pass@k"].values()),
  }


def measure(rows, start, result, final_dev, passk, rc, threshold) -> dict:
  """One RL run's numbers from its metric rows and results."""
  train = [r for r in rows if "reward_mean" in r]
  steps = len(train)
  curve = [[0, start["dev_pass@1"]]] + [
      [r["step"], r["eval/pass@1"]] for r in rows if "eval/pass@1" in r
  ]
  curve.append([steps, final_dev])
  per_step = rc.num_prompts * rc.group_size
  samples = np.cumsum([per_step * r.get("draws", 1) for r in train])
  reached = next((s for s, v in curve if v >= threshold), None)
  late = train[-max(1, steps // 5) :]
  mean = lambda k: _mean([r[k] for r in late if k in r])  # pylint: disable=unnecessary-lambda-assignment
  return {
      **_outcome(start, result, curve, passk),
      "steps_to_threshold": reached,
      "samples_to_threshold": (
          None if reached is None else int(samples[max(reached - 1, 0)])
      ),
      "steps": steps,
      "samples": int(samples[-1]) if steps else 0,
      "entropy": mean("entropy"),
      "kl": mean("kl"),
      "clip_frac": _mean(
          [r.get("clip_low", 0) + r.get("clip_high", 0) for r in train]
      ),
      "length_correct": mean("length_correct"),
      "length_wrong": mean("length_wrong"),
      "think_rate": mean("think_rate"),
      "seconds_per_step": (
          float(np.median([r["rollout_s"] + r["update_s"] for r in train]))
          if train
          else float("nan")
      ),
      "state_bytes": result.get("state_bytes"),
      "settings": {
          k: rc[k]
          for k in (
              ("algorithm",)
              + algorithms.PRESET_FIELDS
              + ("num_updates", "minibatch_size", "learning_rate", "lam")
          )
      },
  }


def _baseline(kind: str, cfg, wd, name: str, start: dict) -> dict:
  """A ``BASELINES`` run from the cold start, measured like an RL variant
  where it can be (no steps to threshold: it takes no RL steps)."""
  rc = rl_config.resolve(cfg.rl)
  stages = ["sft"]
  if kind == "rs":  # as many samples as the RL stage draws.
    cfg = config_lib.derive(
        cfg,
        {
            "stages": "sft,rs",
            "rs.problems": rc.steps * rc.num_prompts,
            "rs.samples": rc.group_size,
            "rs.temperature": rc.temperature,
        },
    )
    stages = ["sft", "rs"]
  definition = {
      **stages_lib.stage_definition(cfg, stages, len(stages) - 1),
      "kind": kind,
      **({"prefill": PREFILL} if kind == "prefill" else {}),
      **{f"study.{k}": cfg.study[k] for k in ("passk_problems", "passk_n")},
  }
  logdir = context.local_dir(wd)
  record = stages_lib.read_record(stages_lib.record_path(logdir, name))
  if record is not None and record.get("definition") == definition:
    return record["measured"]
  ctx = context.build_context(cfg, wd)
  params = jax.tree.map(jax.numpy.asarray, checkpoint.load_params(wd, "sft"))
  if kind == "prefill":
    result = ctx.evaluate(params, prefill=PREFILL)
    dev = ctx.evaluate(params, split="dev", prefill=PREFILL)["pass@1"]
    passk = _passk(ctx, params, cfg.seed, PREFILL)
    steps, samples = 0, 0
  else:
    steps, samples = cfg.rs.steps, cfg.rs.problems * cfg.rs.samples
    try:
      params, result = rejection.run_rejection(ctx, params, stage=name)
    except rejection.NothingAccepted as e:  # no sample to train on.
      logging.warning("%s: %s; the cold start stands", name, e)
      result, steps = {**start, "pass@1": start["test_pass@1"]}, 0
    dev = ctx.evaluate(params, split="dev")["pass@1"]
    passk = _passk(ctx, params, cfg.seed)
  nan = float("nan")
  measured = {
      **_outcome(start, result, [[0, start["dev_pass@1"]], [1, dev]], passk),
      "dev_auc": nan,  # no training curve to compare.
      "steps_to_threshold": None,
      "samples_to_threshold": None,
      "steps": steps,
      "samples": samples,
      **dict.fromkeys(("entropy", "kl", "clip_frac", "think_rate"), nan),
      "length_correct": nan,
      "length_wrong": nan,
      "seconds_per_step": nan,
      "state_bytes": None,
      "settings": {"kind": kind},
  }
  stages_lib.write_record(
      logdir, name, {"measured": measured, "definition": definition}
  )
  return measured


def _mean(xs) -> float:
  return float(np.mean(xs)) if xs else float("nan")


def _auc(curve) -> float:
  """The curve's mean over the run (trapezoids over steps)."""
  s = np.asarray([c[0] for c in curve], np.float64)
  v = np.asarray([c[1] for c in curve], np.float64)
  if s[-1] <= s[0]:
    return float(v.mean())
  return float(np.sum((v[1:] + v[:-1]) / 2 * np.diff(s)) / (s[-1] - s[0]))


def aggregate(runs, config, names, regimes) -> dict:
  """Across seeds per (level, regime, variant), and paired against the
  reference variant per seed."""
  s = config.study
  ref = parse_variant(s.reference)[0]
  levels = _levels(s)
  out = {
      "axis": s.axis,
      "levels": levels,
      "regimes": regimes,
      "variants": names,
      "reference": ref,
      "threshold": s.threshold,
      "margin": s.margin,
      "cold_start": {},
      "cells": {},
  }
  for level in levels:
    first = {r["seed"]: r for r in runs if r["level"] == level}
    if first:
      out["cold_start"][_prefix(s.axis, level)] = stats.across_seeds(
          [r["test_pass@1"] - r["gain"] for r in first.values()]
      )
    for regime in regimes:
      cell = [r for r in runs if r["level"] == level and r["regime"] == regime]
      key = f"{_prefix(s.axis, level)}|{regime}"
      out["cells"][key] = _cell(cell, names, ref, s, config.rl.steps)
  return out


def _prefix(axis: str, level) -> str:
  return f"{axis}={level}" if axis else "base"


def _cell(runs, names, ref, s, steps) -> dict:
  out = {}
  by = {n: {r["seed"]: r for r in runs if r["variant"] == n} for n in names}
  for n in names:
    seeds = sorted(by[n])
    rs = [by[n][x] for x in seeds]
    row = {
        "seeds": seeds,
        "settings": rs[0]["settings"] if rs else {},
        "state_bytes": rs[0]["state_bytes"] if rs else None,
    }
    baseline = row["settings"].get("kind") in BASELINES
    for k in SUMMARY:
      if baseline and k.endswith("_to_threshold"):  # no RL steps.
        row[k] = None
        continue
      vals = [_censored(r, k, steps) for r in rs]
      vals = [v for v in vals if v is not None and np.isfinite(v)]
      row[k] = stats.across_seeds(vals) if vals else None
    row["reached"] = sum(r["steps_to_threshold"] is not None for r in rs)
    row["curves"] = [r["curve"] for r in rs]
    row["by_difficulty"] = _by_difficulty(rs)
    if n != ref and ref in by:
      row["vs_reference"] = {}
      for k in PAIRED:
        if k.endswith("_to_threshold") and rs[0]["steps_to_threshold"] is None:
          continue  # a baseline: no RL steps.
        d = [
            _censored(by[n][x], k, steps) - _censored(by[ref][x], k, steps)
            for x in seeds
            if x in by[ref]
        ]
        d = [x for x in d if np.isfinite(x)]
        if d:
          a = stats.across_seeds(d)
          margin = s.margin if k != "steps_to_threshold" else 0.1 * steps
          a["verdict"] = stats.verdict(a["ci95"], margin)
          row["vs_reference"][k] = a
    out[n] = row
  return out


def _censored(r, k, steps):
  """A run's number; steps/samples to threshold count as the whole run
  (steps + 1 / its samples) when the threshold was never reached."""
  if k == "steps_to_threshold":
    v = r[k]
    return float(steps + 1 if v is None else v)
  if k == "samples_to_threshold":
    return float(r["samples"] if r[k] is None else r[k])
  v = r.get(k)
  return None if v is None else float(v)


def _by_difficulty(rs) -> dict:
  """Per operation count: mean test pass@1 over seeds."""
  keys = sorted({k for r in rs for k in r.get("by_difficulty", {})}, key=int)
  return {
      k: stats.across_seeds([r["by_difficulty"][k] for r in rs])["mean"]
      for k in keys
      if all(k in r.get("by_difficulty", {}) for r in rs)
  }


def _fmt(a, pct: bool = False, digits: int = 3, worst: str = "min") -> str:
  """mean [95% interval] (worst seed: its ``worst`` end, min or max)."""
  if a is None:
    return "–"
  f = (lambda x: f"{x:.{digits}f}") if not pct else (lambda x: f"{x:.0f}")
  lo, hi = a["ci95"]
  ci = f" [{f(lo)}, {f(hi)}]" if np.isfinite(lo) else ""
  return f"{f(a['mean'])}{ci} (worst {f(a[worst])})"


def markdown(out) -> str:
  lines = [
      (
          f"Study: {len(out['variants'])} variants × {len(out['regimes'])} "
          f"regimes × {len(out['levels'])} levels of "
          f"`{out['axis'] or 'none'}`; reference `{out['reference']}`; "
          f"threshold dev pass@1 ≥ {out['threshold']}; equivalence margin "
          f"±{out['margin']} (test pass@1, dev AUC). Mean [95% t-interval "
          "across seeds] (worst seed)."
      ),
      "",
  ]
  for key, cell in out["cells"].items():
    start = out["cold_start"].get(key.split("|")[0])
    lines += [
        f"### {key}",
        "",
        f"Cold start (SFT), test pass@1: {_fmt(start)}.",
        "",
    ]
    lines += [
        (
            "| variant | test pass@1 | gain over SFT | Δ vs ref (test) | "
            "dev AUC | Δ vs ref (AUC) | steps to thr. (reached) | "
            "pass@1 / pass@max sampled | entropy | KL | clip | len ✓ / ✗ | "
            "s/step | state MiB |"
        ),
        "|---|" + "---|" * 13,
    ]
    for n, row in cell.items():
      vs = row.get("vs_reference", {})
      d = lambda k: (  # pylint: disable=unnecessary-lambda-assignment
          "ref"
          if not vs
          else f"{_fmt(vs[k])} {vs[k]['verdict']}"
          if k in vs
          else "–"
      )
      lc, lw = row["length_correct"], row["length_wrong"]
      steps = (
          "–"
          if row["steps_to_threshold"] is None
          else (
              f"{_fmt(row['steps_to_threshold'], pct=True, worst='max')} "
              f"({row['reached']}/{len(row['seeds'])})"
          )
      )
      lines.append(
          f"| {n} | {_fmt(row['test_pass@1'])} | {_fmt(row['gain'])} | "
          f"{d('test_pass@1')} | {_fmt(row['dev_auc'])} | {d('dev_auc')} | "
          f"{steps} | {_m(row['pass@1_sampled'])} / {_m(row['pass@max'])} | "
          f"{_m(row['entropy'])} | {_m(row['kl'], 4)} | "
          f"{_m(row['clip_frac'], 4)} | {_m(lc, 1)} / {_m(lw, 1)} | "
          f"{_m(row['seconds_per_step'], 2)} | {_mib(row['state_bytes'])} |"
      )
    lines.append("")
  if "probe" in out:
    p = out["probe"]
    lines += [
        "### Gradient variance against the group size (at the cold start)",
        "",
        "| prompts | "
        + " | ".join(f"G={g}" for g in p["group_sizes"])
        + " | log-slope [95% CI] (worst seed) |",
        "|---|" + "---|" * (len(p["group_sizes"]) + 1),
    ]
    for key in ("fixed_prompts", "fresh_prompts"):
      lines.append(
          f"| {key.replace('_', ' ')} | "
          + " | ".join(f"{v:.3g}" for v in p[key]["variance"])
          + f" | {_fmt(p[key]['log_slope'])} |"
      )
    lines.append("")
  if out.get("claims"):
    lines += [
        "### Claims",
        "",
        "| claim | source | measured (mean [95% CI] (worst seed)) | verdict |",
        "|---|---|---|---|",
    ]
    for c in out["claims"]:
      measured = "; ".join(
          f"{k}: {_fmt(v)}" for k, v in c["measured"].items() if v
      )
      lines.append(
          f"| {c['claim']} | {c['source']} | {c['metric']}: {measured} | "
          f"{c['verdict']} |"
      )
    lines.append("")
  return "\n".join(lines) + "\n"


def _mib(n) -> str:
  return "–" if not n else f"{n / 2**20:.2f}"


def _m(a, digits: int = 3) -> str:
  return "–" if a is None else f"{a['mean']:.{digits}f}"


def plot(out, path: str) -> None:
  """Dev pass@1 over RL steps: one panel per level × regime, a line per
  variant (mean over seeds) with its seeds' range shaded."""
  keys = list(out["cells"])
  cols = len(out["regimes"])
  rows = max(1, len(keys) // cols)
  fig = Figure(figsize=(5.5 * cols, 3.8 * rows))
  axes = np.asarray(fig.subplots(rows, cols, squeeze=False)).reshape(-1)
  for ax, key in zip(axes, keys):
    span = max(
        (c[-1][0] for row in out["cells"][key].values() for c in row["curves"]),
        default=1,
    )
    for n, row in out["cells"][key].items():
      curves = row["curves"]
      if not curves:
        continue
      if row["settings"].get("kind") in BASELINES:  # no RL curve: its level.
        level = np.mean([c[-1][1] for c in curves])
        ax.plot([0, span], [level, level], ls="--", label=n)
        continue
      steps = np.asarray([c[0] for c in curves[0]])
      vals = np.asarray(
          [[c[1] for c in cv] for cv in curves if len(cv) == len(steps)]
      )
      (line,) = ax.plot(steps, vals.mean(0), label=n)
      ax.fill_between(
          steps, vals.min(0), vals.max(0), alpha=0.15, color=line.get_color()
      )
    ax.set(
        title=key.replace("|", ", "),
        xlabel="RL step",
        ylabel="dev greedy pass@1",
        ylim=(0, 1),
    )
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=90)


def define_flags() -> None:
  cli.define_flags("configs/compare.py", "runs/study", seeds=True)


def main(argv):
  del argv  # cli.run refuses extra arguments.
  f = flags.FLAGS
  out = run_study(f.config, f.workdir, cli.seeds_flag())
  if jax.process_index() == 0:
    print(markdown(out))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
