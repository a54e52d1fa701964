"""``train_and_evaluate(config, workdir)``: the stages of a run, in order.

Builds the run context once (``train/context.py``: mesh, tokenizer, task,
policy module), then runs ``config.stages`` (``pretrain``, ``sft``, ``rl``,
``rs``, ``distill``, ``budget``), each resuming from its own orbax
checkpoints, and writes ``summary.json`` with held-out pass@1 after each stage, and a report
(``report.md``, ``report.png``) across stages. Rerunning the same command on
the same workdir resumes at the first unfinished stage.

A finished stage's record keeps the config fields that define it
(``stage_definition``); a rerun whose fields differ is refused, naming
them, unless ``restart_from`` names the stage to retrain from (it and every
later stage lose their checkpoints, records and metric rows). So
``config.json`` (a distillation teacher is read from it) always describes
what produced the checkpoints. A finished stage whose last checkpoint is
unreadable runs again from its newest intact step.
"""

import contextlib
import json
import os
import socket
import time

from absl import logging
from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from reasoning_jax import config as config_lib
from reasoning_jax.parallel import multihost
from reasoning_jax.train import budget
from reasoning_jax.train import checkpoint
from reasoning_jax.train import distill
from reasoning_jax.train import evaluate as evaluate_lib
from reasoning_jax.train import metrics
from reasoning_jax.train import pretrain
from reasoning_jax.train import rejection
from reasoning_jax.train import report
from reasoning_jax.train import rl
from reasoning_jax.train import seeds_report
from reasoning_jax.train import sft
from reasoning_jax.train import stats
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
    c = ml_collections.ConfigDict(config.to_dict())
    c.seed = s
    summaries[s] = train_and_evaluate(
        c, os.path.join(workdir, f"seed_{s}"), restart_from
    )
  if jax.process_index() != 0:
    return {}
  out = local_dir(workdir)
  os.makedirs(out, exist_ok=True)
  return seeds_report.write_seeds_report(out, summaries)


class WorkdirBusy(RuntimeError):
  """Another live run holds the workdir."""


@contextlib.contextmanager
def workdir_lock(logdir: str):
  """Holds ``<logdir>/LOCK`` (pid and host) for the duration of a run.

  A second run on the same workdir raises ``WorkdirBusy`` naming the
  holder, before it touches anything: two runs would interleave metrics,
  exceed ``checkpoint.keep`` and crash in orbax. A lock left by a killed
  run (its pid is gone on this host) is taken over.
  """
  os.makedirs(logdir, exist_ok=True)
  path = os.path.join(logdir, "LOCK")
  me = {"pid": os.getpid(), "host": socket.gethostname()}
  while True:
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
      try:
        with open(path) as f:
          holder = json.load(f)
      except (OSError, ValueError):
        holder = {}
      if holder.get("host") == me["host"] and not _alive(holder.get("pid")):
        logging.warning(
            "taking over %s from pid %s, which is gone", path, holder.get("pid")
        )
        os.remove(path)
        continue
      raise WorkdirBusy(
          f"{logdir} is in use by pid {holder.get('pid')} on "
          f"{holder.get('host')}: wait for that run, or delete {path} if it "
          "is gone"
      ) from None
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    break
  try:
    yield
  finally:
    try:
      with open(path) as f:
        if json.load(f) == me:
          os.remove(path)
    except (OSError, ValueError):
      pass


def _alive(pid) -> bool:
  if not isinstance(pid, int) or pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def write_json_atomic(path: str, obj) -> None:
  """``obj`` as JSON at ``path``, written to a temporary file first and
  renamed: a crash mid-write leaves the old file or none, never half of
  one (a finished stage's record is what a rerun trusts)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp.{os.getpid()}"
  try:
    with open(tmp, "w") as f:
      json.dump(obj, f)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


# Config sections every stage's result depends on, and each stage's own
# (the stages that fine-tune with ``run_sft`` also read ``sft``'s optimizer).
_COMMON = ("seed", "task", "prompt", "tokenizer", "model", "data", "init")
_OWN = {
    "pretrain": ("pretrain", "sft"),
    "sft": ("sft",),
    "rl": ("rl",),
    "rs": ("rs", "sft"),
    "distill": ("distill", "sft"),
    "budget": ("budget",),
}
# Fields that change how fast a stage runs or how often it reports, not
# what it produces.
_NOT_DEFINING = (
    "model.decode_chunk",
    "model.decode_scores",
    "model.remat",
    "model.attention",
    "rl.eval_every",
    "rl.microbatches",
)


def _flat(d, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(_flat(v, key + "."))
    else:
      out[key] = list(v) if isinstance(v, tuple) else v
  return out


def _definition(config, sections, extra=None) -> dict:
  """``extra`` and the config's ``sections``, flat and sorted, without the
  ``_NOT_DEFINING`` fields."""
  d = config.to_dict()
  keep = dict(extra or {})
  for sec in sections:
    keep.update(
        _flat({sec: d[sec]}) if isinstance(d[sec], dict) else {sec: d[sec]}
    )
  return {k: v for k, v in sorted(keep.items()) if k not in _NOT_DEFINING}


def stage_definition(config, stages: list[str], i: int) -> dict:
  """The config fields that define what stage ``i`` produced: the common
  sections, the stage list up to it, and the own sections of it and every
  stage before it (their output is its input). Flat ``{"sft.steps": 6}``."""
  own = tuple(x for s in stages[: i + 1] for x in _OWN[s])
  return _definition(config, _COMMON + own, {"stages": stages[: i + 1]})


def _differences(saved: dict, now: dict) -> list[str]:
  keys = sorted(set(saved) | set(now))
  return [
      f"{k}={saved.get(k, '<unset>')!r} -> {now.get(k, '<unset>')!r}"
      for k in keys
      if saved.get(k, "<unset>") != now.get(k, "<unset>")
  ]


def _remove_stages(ctx, names: list[str]) -> None:
  """Deletes the checkpoints, records, metric rows and TensorBoard runs of
  ``names`` (``restart_from``)."""
  if jax.process_index() == 0:
    for name in names:
      for d in (
          epath.Path(ctx.workdir) / "checkpoints" / name,
          epath.Path(ctx.logdir) / "tb" / name,
      ):
        if d.exists():
          d.rmtree()
      record = os.path.join(ctx.logdir, "stages", f"{name}.json")
      if os.path.exists(record):
        os.remove(record)
      metrics.drop_rows_after(
          os.path.join(ctx.logdir, "metrics.jsonl"), name, -1
      )
      logging.info("restart: removed stage %s", name)
  multihost.barrier("restart_from")


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
      workdir_lock(ctx.logdir)
      if jax.process_index() == 0
      else contextlib.nullcontext()
  ):
    return _run_stages(config, ctx, t0, restart_from)


def _read_record(path: str) -> dict | None:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _check_finished(
    config, ctx, stages, names, restart_from: str
) -> list[dict | None]:
  """Applies ``restart_from``, then refuses a rerun whose config differs
  from a finished stage's definition (naming the fields). Returns each
  stage's record (None: not finished)."""
  if restart_from:
    if restart_from not in names:
      raise config_lib.ConfigError(
          f"--restart_from={restart_from}: not a stage of this run "
          f"({', '.join(names)})"
      )
    _remove_stages(ctx, names[names.index(restart_from) :])
  # Process 0's records, for all: skipping a stage or training it is
  # collective, and with a remote workdir the logdir is process 0's own.
  records = multihost.from_process_0(
      lambda: [
          _read_record(os.path.join(ctx.logdir, "stages", f"{n}.json"))
          for n in names
      ]
  )
  for i, (name, record) in enumerate(zip(names, records)):
    if record is None or "definition" not in record:
      continue
    diff = _differences(
        record["definition"], stage_definition(config, stages, i)
    )
    if diff:
      raise config_lib.ConfigError(
          f"stage {name} of {ctx.logdir} finished with another config "
          f"({'; '.join(diff[:4])}{'; ...' if len(diff) > 4 else ''}): "
          f"rerun with --restart_from={name} to retrain it and the stages "
          "after it, or use a new workdir"
      )
  return records


def start_definition(config) -> dict:
  """The config fields the starting checkpoint's evaluation depends on: the
  common sections and ``eval``. Flat, as ``stage_definition``."""
  return _definition(config, _COMMON + ("eval",))


def _evaluate_start(ctx, config, params) -> tuple[dict, list]:
  """Held-out greedy pass@1 of the starting checkpoint (with its interval)
  and its per-problem verdicts, for the first stage's paired change.

  Kept in ``<logdir>/stages/init.json`` with ``start_definition``: a resumed
  or rerun job reads it instead of evaluating again (138 s for SmolLM2 at
  512 problems on CPU); a changed definition evaluates anew.
  """
  path = os.path.join(ctx.logdir, "stages", "init.json")
  definition = start_definition(config)
  # Evaluating is collective: every process takes process 0's record.
  record = multihost.from_process_0(lambda: _read_record(path))
  if record is not None and record.get("definition") == definition:
    logging.info("the starting checkpoint was evaluated earlier: %s", path)
  else:
    r = ctx.evaluate(params)
    record = _with_interval(
        {**evaluate_lib.stage_result(r), "correct": r["correct"]}
    )
    record["definition"] = definition
    if jax.process_index() == 0:
      write_json_atomic(path, record)
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
  records = _check_finished(config, ctx, stages, names, restart_from)
  if jax.process_index() == 0:
    os.makedirs(ctx.logdir, exist_ok=True)
    with open(os.path.join(ctx.logdir, "config.json"), "w") as f:
      f.write(config.to_json(indent=2))
  summary, params, prev = {}, initial_params(ctx), None
  if params is not None:  # a pretrained start: the baseline of stage one.
    summary["init"], prev = _evaluate_start(ctx, config, params)
  for i, (stage, name) in enumerate(zip(stages, names)):
    record = os.path.join(ctx.logdir, "stages", f"{name}.json")
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
      result["definition"] = stage_definition(config, stages, i)
      if jax.process_index() == 0:
        write_json_atomic(record, result)
    prev = result.pop("correct")
    result.pop("definition", None)
    summary[name] = result
    logging.info("stage %s done: %s", name, result)
  summary["wall_seconds"] = time.perf_counter() - t0
  if jax.process_index() == 0:
    with open(os.path.join(ctx.logdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
    report.write_report(ctx.logdir, summary)
  return summary
