"""A run's stage bookkeeping: the workdir lock, what defines each stage,
and the records a finished stage leaves.

A finished stage leaves ``<logdir>/stages/<name>.json``: its result and
``stage_definition``, the config fields that define what it produced. A
rerun skips a finished stage whose definition is unchanged and refuses one
whose fields differ (naming them) unless ``--restart_from`` names it
(``check_finished``). The pipeline (``reasoning_jax/pipeline.py``) orders
the stages; this module keeps their books.
"""

import contextlib
import json
import os
import socket

from absl import logging
from etils import epath
import jax

from reasoning_jax import config as config_lib
from reasoning_jax import files
from reasoning_jax.parallel import multihost
from reasoning_jax.train import metrics


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


# Config sections every stage's result depends on, and each stage's own
# (the stages that fine-tune with ``fine_tune`` also read ``sft``'s optimizer).
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


def remove_stages(ctx, names: list[str]) -> None:
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
      record = record_path(ctx.logdir, name)
      if os.path.exists(record):
        os.remove(record)
      metrics.drop_rows_after(
          os.path.join(ctx.logdir, "metrics.jsonl"), name, -1
      )
      logging.info("restart: removed stage %s", name)
  multihost.barrier("restart_from")


def read_record(path: str) -> dict | None:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def check_finished(
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
    remove_stages(ctx, names[names.index(restart_from) :])
  # Process 0's records, for all: skipping a stage or training it is
  # collective, and with a remote workdir the logdir is process 0's own.
  records = multihost.from_process_0(
      lambda: [read_record(record_path(ctx.logdir, n)) for n in names]
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


def record_path(logdir: str, name: str) -> str:
  """Where a finished stage's record (and the start's, ``init``) is."""
  return os.path.join(logdir, "stages", f"{name}.json")


def write_record(logdir: str, name: str, record: dict) -> None:
  """A stage's record, atomically: a rerun trusts it (process 0 writes)."""
  if jax.process_index() == 0:
    files.write_json(record_path(logdir, name), record)
