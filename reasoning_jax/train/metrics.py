"""Metrics to JSONL + TensorBoard event files, and console progress with ETA.

Only process 0 writes; other processes get a writer that drops everything.
"""

import json
import logging as pylogging
import math
import os
import time

from absl import logging
import jax
from tensorboardX import SummaryWriter

from reasoning_jax import files


def setup_logging():
  """INFO on the console, without orbax's per-save INFO lines."""
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().python_handler.addFilter(
      lambda r: "orbax" not in r.pathname or r.levelno >= pylogging.WARNING
  )


class MetricWriter:
  """Appends ``{"step": s, "stage": ..., **metrics}`` lines to metrics.jsonl.

  Also writes TensorBoard scalars under ``workdir/tb`` (tensorboardX: the
  only event writer that works without TensorFlow installed).

  ``resume_step``: the step a training stage restarts from (its checkpoint;
  0 for a fresh start). The stage's rows past it, and its ``final/`` rows,
  were written by a run that died before saving them and are dropped, so a
  resumed run's file has each step once; TensorBoard purges them too.
  """

  def __init__(self, workdir: str, stage: str, resume_step: int | None = None):
    self.stage = stage
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, "metrics.jsonl")
    if resume_step is not None:
      drop_rows_after(self.path, stage, resume_step)
    self.tb = SummaryWriter(
        os.path.join(workdir, "tb", stage),
        purge_step=None if resume_step is None else resume_step + 1,
    )

  def write(self, step: int, metrics: dict):
    if not self.enabled:
      return
    clean = {k: _to_float(v) for k, v in metrics.items()}
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(
          json.dumps({"stage": self.stage, "step": int(step), **clean}) + "\n"
      )
    for k, v in clean.items():
      if v is not None and math.isfinite(v):
        self.tb.add_scalar(k.replace("@", "_at_"), v, int(step))
    self.tb.flush()

  def close(self):
    if self.enabled:
      self.tb.close()


def _to_float(v):
  try:
    return float(v)
  except (TypeError, ValueError):
    return None


def drop_rows_after(path: str, stage: str, step: int) -> int:
  """Rewrites ``path`` (atomically) without ``stage``'s rows past ``step``
  and its ``final/`` rows; returns how many were dropped."""
  if not os.path.exists(path):
    return 0
  with open(path, encoding="utf-8") as f:
    lines = [ln for ln in f if ln.strip()]
  keep = []
  for ln in lines:
    try:
      r = json.loads(ln)
    except json.JSONDecodeError:  # a line cut short by a kill.
      continue
    if r.get("stage") == stage and (
        r.get("step", 0) > step or any(k.startswith("final/") for k in r)
    ):
      continue
    keep.append(ln if ln.endswith("\n") else ln + "\n")
  if len(keep) != len(lines):
    with files.atomic_write(path) as f:
      f.writelines(keep)
  return len(lines) - len(keep)


def read_metrics(workdir: str, stage: str | None = None) -> list[dict]:
  """All records of metrics.jsonl (optionally one stage's)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return [r for r in rows if stage is None or r["stage"] == stage]


class Progress:
  """Logs ``stage step s/total | step/s | ETA`` at most every few seconds."""

  def __init__(self, stage: str, total: int, start: int = 0):
    self.stage, self.total, self.start = stage, total, start
    self.t0 = time.perf_counter()

  def rate(self, step: int) -> float:
    return (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)

  def log(self, step: int, metrics: dict):
    rate = self.rate(step)
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    shown = " ".join(
        f"{k}={_to_float(v):.4g}"
        for k, v in metrics.items()
        if _to_float(v) is not None
    )
    logging.info(
        "%s %d/%d | %.2f step/s | ETA %s | %s",
        self.stage,
        step,
        self.total,
        rate,
        _fmt(eta),
        shown,
    )


def _fmt(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  m, s = divmod(int(seconds), 60)
  return f"{m}m{s:02d}s"
