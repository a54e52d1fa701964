"""The stage loop that SFT, RL and the verifiers' training share.

One skeleton around a stage's own ``step_fn``: restore the newest intact
checkpoint, step until ``steps``, write metric rows and progress lines,
evaluate now and then, checkpoint, save and stop on SIGTERM, save the last
step, and write the ``final`` rows. What differs between stages is the step
and the three callbacks (``periodic_eval``, ``extra``, ``final``).
"""

import time
from typing import Any, Callable

from absl import logging
import jax

from reasoning_jax.train import checkpoint
from reasoning_jax.train import evaluation
from reasoning_jax.train import metrics as metrics_lib


def run_loop(
    ctx,
    stage: str,
    state,
    step_fn: Callable[[Any, int], tuple],
    *,
    steps: int,
    keep: int,
    write_every: int,
    log_every: int,
    log_keys: tuple[str, ...],
    checkpoint_every: int = 0,
    updates_per_step: int = 1,
    eval_every: int = 0,
    periodic_eval: Callable[[Any], dict] | None = None,
    start: Callable[[Any], None] | None = None,
    extra: Callable[[int, Any], dict] | None = None,
    final: Callable[[Any, float], dict] | None = None
):
  """Runs ``state, metrics = step_fn(state, i)`` for ``i`` in [start, steps).

  Args:
    ctx: the run context (``workdir``, ``logdir``).
    stage: checkpoint and metric-row name.
    state: a ``TrainState``; restored from ``<workdir>/checkpoints/<stage>``
      when a step is saved there. Checkpoints are keyed by ``state.step``
      (optimizer updates); the loop counts stage steps, ``state.step //
      updates_per_step``.
    step_fn: one stage step; its metrics may live on the device.
    steps: the stage's step count.
    keep: checkpoints kept.
    write_every, log_every: a metric row (metrics, ``extra``, steps/s) every
      ``write_every`` steps and a progress line of ``log_keys`` every
      ``log_every`` steps, both also at the last step.
    checkpoint_every: save every that many steps and at the last (0: only
      at the end, or on SIGTERM).
    eval_every, periodic_eval: ``periodic_eval(state)`` -> stage result, written as
      ``eval/*`` rows every ``eval_every`` steps before the last.
    start: ``start(state)`` once, with the restored state, before stepping.
    extra: ``extra(step, state)`` -> more fields of a metric row.
    final: ``final(state, train_seconds)`` -> the stage result, written as
      ``final/*`` rows (its non-numbers are not).

  Returns:
    ``(state, result)``: ``final``'s result, or ``{"train_seconds": s}``.
  """
  assert log_every % write_every == 0, (log_every, write_every)
  ckpt = checkpoint.Checkpointer(ctx.workdir, stage, keep)
  if ckpt.latest_step() is not None:
    state = ckpt.restore(state)
    logging.info("%s: resumed from step %d", stage, int(state.step))
  if start:
    start(state)
  i = int(state.step) // updates_per_step
  writer = metrics_lib.MetricWriter(ctx.logdir, stage, i)
  progress = metrics_lib.Progress(stage, steps, i)
  t_start = time.perf_counter()
  while i < steps:
    state, m = step_fn(state, i)
    i += 1
    last = i == steps
    if i % write_every == 0 or last:
      m = jax.device_get(m)
      row = {
          **m,
          **(extra(i, state) if extra else {}),
          "steps_per_s": progress.rate(i),
      }
      writer.write(i, row)
    if i % log_every == 0 or last:
      progress.log(i, {k: row[k] for k in log_keys})
    if eval_every and i % eval_every == 0 and not last:
      writer.write(i, evaluation.flat_metrics(periodic_eval(state), "eval"))
    if checkpoint_every and (i % checkpoint_every == 0 or last):
      ckpt.save(int(state.step), state)
    ckpt.save_and_stop_if_preempted(stage, int(state.step), state)
  train_seconds = time.perf_counter() - t_start
  if ckpt.latest_step() != int(state.step):  # resumed finished, or unsaved.
    ckpt.save(int(state.step), state, force=True)
  ckpt.close()
  if final is None:
    result = {"train_seconds": train_seconds}
  else:
    result = final(state, train_seconds)
    writer.write(i, evaluation.flat_metrics(result, "final"))
  writer.close()
  return state, result


def run_policy_stage(
    ctx,
    stage: str,
    state,
    step_fn,
    *,
    steps: int,
    policy,
    write_every: int,
    log_keys: tuple[str, ...],
    eval_every: int,
    updates_per_step: int = 1,
    final_extra=None
):
  """``run_loop`` for a stage that trains the policy (SFT, RL): the config's
  checkpoint and log cadence, held-out greedy pass@1 of ``policy(state)``
  on the dev set (``eval.periodic_problems``) every ``eval_every`` steps
  and on the test set (``eval.num_problems``) at the end. The result holds ``final_extra(state,
  train_seconds)`` and ``correct`` ([num_problems] 0/1, for paired deltas;
  not a metric row)."""
  cfg = ctx.config

  def periodic_eval(state):
    r = ctx.evaluate(policy(state), split="dev")
    return evaluation.stage_result(r)

  def final(state, train_seconds):
    r = ctx.evaluate(policy(state))
    return {
        **evaluation.stage_result(r),
        **final_extra(state, train_seconds),
        "correct": r["correct"],
    }

  return run_loop(
      ctx,
      stage,
      state,
      step_fn,
      steps=steps,
      keep=cfg.checkpoint.keep,
      write_every=write_every,
      log_every=cfg.log_every,
      log_keys=log_keys,
      checkpoint_every=cfg.checkpoint.every,
      updates_per_step=updates_per_step,
      eval_every=eval_every,
      periodic_eval=periodic_eval,
      final=final,
  )
