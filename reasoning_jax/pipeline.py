"""``train_and_evaluate(config, workdir)``: the stages of a run, in order.

Builds the run context once (``train/context.py``: mesh, tokenizer, task,
policy module), then runs ``config.stages`` (``pretrain``, ``sft``, ``rl``,
``rs``, ``distill``, ``budget``), each resuming from its own orbax
checkpoints, and writes ``summary.json`` with held-out pass@1 after each stage, and a report
(``report.md``, ``report.png``) across stages. Rerunning the same command on
the same workdir resumes at the first unfinished stage.

A finished stage's record keeps the config fields that define it
(``train/stages.py``: ``stage_definition``); a rerun whose fields differ is refused, naming
them, unless ``restart_from`` names the stage to retrain from (it and every
later stage lose their checkpoints, records and metric rows). So
``config.json`` (a distillation teacher is read from it) always describes
what produced the checkpoints. A finished stage whose last checkpoint is
unreadable runs again from its newest intact step.
"""

import contextlib
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from reasoning_jax import config as config_lib
from reasoning_jax import files
from reasoning_jax.experiments import run_report
from reasoning_jax.experiments import seeds_report
from reasoning_jax.experiments import stats
from reasoning_jax.parallel import multihost
from reasoning_jax.train import budget
from reasoning_jax.train import checkpoint
from reasoning_jax.train import distill
from reasoning_jax.train import evaluation
from reasoning_jax.train import pretrain
from reasoning_jax.train import rejection
from reasoning_jax.train import rl
from reasoning_jax.train import sft
from reasoning_jax.train import stages as stages_lib
from reasoning_jax.train.context import build_context
from reasoning_jax.train.context import initial_params
from reasoning_jax.train.context import local_dir
from reasoning_jax.train.context import stage_names


def train_and_evaluate_seeds(
    config: ml_collections.ConfigDict,
    workdir: str,
    seeds: list[int],
    restart_from: str = "",
) -> dict:
  """``train_and_evaluate`` once per seed (``config.seed``; the task and
  its test problems stay the same) in ``<workdir>/seed_<s>``, then
  ``seeds.json`` / ``seeds.md`` / ``seeds.png`` in ``workdir`` with each
  seed's pass@1 and paired gains, their mean and spread. Each seed resumes
  and skips finished stages like a single run. Returns the aggregate."""
  if not seeds or len(set(seeds)) != len(seeds):
    raise config_lib.ConfigError(f"--seeds={seeds}: give distinct seeds")
  summaries = {}
  for s in seeds:
    summaries[s] = train_and_evaluate(
        config_lib.derive(config, {"seed": s}),
        os.path.join(workdir, f"seed_{s}"),
        restart_from,
    )
  if jax.process_index() != 0:
    return {}
  out = local_dir(workdir)
  os.makedirs(out, exist_ok=True)
  return seeds_report.write_seeds_report(out, summaries)


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, restart_from: str = ""
):
  """Runs every stage of ``config.stages``; returns the summary dict.

  A finished stage leaves ``<workdir>/stages/<name>.json`` (its result and
  ``stage_definition``); a rerun skips it, taking its parameters from its
  last checkpoint, if the definition is unchanged, and refuses otherwise.
  ``restart_from`` (a stage name, e.g. ``sft`` or ``rl_grpo``) retrains that
  stage and every later one from scratch. The run holds the workdir
  (``workdir_lock``): a second one refuses at once.
  """
  t0 = time.perf_counter()
  ctx = build_context(config, workdir)
  with (
      stages_lib.workdir_lock(ctx.logdir)
      if jax.process_index() == 0
      else contextlib.nullcontext()
  ):
    return _run_stages(config, ctx, t0, restart_from)


def _evaluate_start(ctx, config, params) -> tuple[dict, list]:
  """Held-out greedy pass@1 of the starting checkpoint (with its interval)
  and its per-problem verdicts, for the first stage's paired change.

  Kept in ``<logdir>/stages/init.json`` with ``start_definition``: a resumed
  or rerun job reads it instead of evaluating again (a real model's
  evaluation takes minutes); a changed definition evaluates anew.
  """
  path = stages_lib.record_path(ctx.logdir, "init")
  definition = stages_lib.start_definition(config)
  # Evaluating is collective: every process takes process 0's record.
  record = multihost.from_process_0(lambda: stages_lib.read_record(path))
  if record is not None and record.get("definition") == definition:
    logging.info("the starting checkpoint was evaluated earlier: %s", path)
  else:
    r = ctx.evaluate(params)
    record = _with_interval(
        {**evaluation.stage_result(r), "correct": r["correct"]}
    )
    record["definition"] = definition
    stages_lib.write_record(ctx.logdir, "init", record)
  result = {k: v for k, v in record.items() if k != "definition"}
  correct = result.pop("correct")
  logging.info("the starting checkpoint: %s", result)
  return result, correct


def _with_interval(result: dict) -> dict:
  """``result`` with ``correct`` as a list and pass@1's bootstrap 95%
  interval (``pass@1_ci95``)."""
  result["correct"] = np.asarray(result["correct"]).tolist()
  result["pass@1_ci95"] = list(stats.bootstrap_ci(result["correct"]))
  return result


def _run_stages(config, ctx, t0, restart_from: str = ""):
  """The stage loop of ``train_and_evaluate``, under the workdir lock."""
  stage_fns = {
      "pretrain": pretrain.run_pretrain,
      "sft": sft.run_sft,
      "rl": rl.run_rl,
      "rs": rejection.run_rejection,
      "distill": distill.run_distill,
      "budget": budget.run_budget,
  }
  stages = [s for s in config.stages.split(",") if s]
  names = stage_names(stages, config.rl.algorithm)
  records = stages_lib.check_finished(config, ctx, stages, names, restart_from)
  if jax.process_index() == 0:
    os.makedirs(ctx.logdir, exist_ok=True)
    with files.atomic_write(os.path.join(ctx.logdir, "config.json")) as f:
      f.write(config.to_json(indent=2))
  summary, params, prev = {}, initial_params(ctx), None
  if params is not None:  # a pretrained start: the baseline of stage one.
    summary["init"], prev = _evaluate_start(ctx, config, params)
  for i, (stage, name) in enumerate(zip(stages, names)):
    result = records[i]
    if result is not None:
      try:
        params = jax.tree.map(
            jnp.asarray, checkpoint.load_params(ctx.workdir, name)
        )
        logging.info("stage %s finished earlier: skipped", name)
      except checkpoint.CheckpointError as e:
        logging.warning(
            "stage %s finished but %s: running it again from "
            "its newest intact step",
            name,
            e,
        )
        result = None
    if result is None:
      params, result = stage_fns[stage](ctx, params, stage=name)
      result = _with_interval(result)
      if prev is not None:  # same problems, same order: a paired comparison.
        result["paired_vs_previous"] = stats.paired_delta(
            prev, result["correct"]
        )
      result["definition"] = stages_lib.stage_definition(config, stages, i)
      stages_lib.write_record(ctx.logdir, name, result)
    prev = result.pop("correct")
    result.pop("definition", None)
    summary[name] = result
    logging.info("stage %s done: %s", name, result)
  summary["wall_seconds"] = time.perf_counter() - t0
  if jax.process_index() == 0:
    files.write_json(
        os.path.join(ctx.logdir, "summary.json"), summary, indent=2
    )
    run_report.write_report(ctx.logdir, summary)
  return summary
