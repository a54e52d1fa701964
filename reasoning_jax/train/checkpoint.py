"""Orbax checkpoints in ``workdir/checkpoints/<stage>``; resume = same command.

Every orbax read and write of the package is here: a stage's train states
(``Checkpointer``, ``load_params``) and a parameter tree alone
(``save_params`` / ``read_params``: trained verifiers).

Saves the whole train state (params, optimizer state, step, RNG, data
position). Restores onto the shardings of a target state, so a checkpoint
written on one mesh loads onto another. A save interrupted by a kill leaves a
``*.orbax-checkpoint-tmp`` folder that the manager ignores: the last complete
step is restored. A step that is complete but unreadable (a truncated data
file, an emptied ``_METADATA``) is moved aside to ``<stage>.corrupt/`` with a
warning naming it and why, and the newest intact step is restored instead
(``checkpoint.keep`` >= 2 leaves one to fall back to).

Preemption: ``install_sigterm_handler()`` (the entrypoint calls it) turns
SIGTERM into a flag; each training loop checks ``stop_requested()`` after
every step, saves that step and raises ``Preempted``; the entrypoint exits
with status 143 (128 + SIGTERM). Rerunning the command resumes exactly there.
"""

import os
import signal
import time

from absl import logging
from etils import epath
import jax
import orbax.checkpoint as ocp

from reasoning_jax.parallel import multihost

_SIGTERM = {"seen": False}


class Preempted(Exception):
  """SIGTERM arrived; the stage saved its current step before raising."""

  def __init__(self, stage: str, step: int):
    super().__init__(
        f"preempted (SIGTERM): {stage} saved at step {step}; "
        "rerun the same command to resume"
    )
    self.stage, self.step = stage, step


def install_sigterm_handler():
  """SIGTERM sets a flag instead of killing the process (main thread only)."""

  def handle(signum, frame):
    del signum, frame
    _SIGTERM["seen"] = True

  signal.signal(signal.SIGTERM, handle)


def stop_requested() -> bool:
  """Whether any process has received SIGTERM (all processes agree)."""
  return multihost.any_process(_SIGTERM["seen"])


class CheckpointError(RuntimeError):
  """A checkpoint is missing or unreadable; the message names it."""


def _stage_path(workdir: str, stage: str) -> str:
  path = os.path.join(workdir, "checkpoints", stage)
  return path if "://" in path else os.path.abspath(path)  # gs://... as is.


def _why(e: Exception) -> str:
  """The first line of an exception: TensorStore's run to dozens."""
  lines = str(e).strip().splitlines()
  return f"{type(e).__name__}: {lines[0][:200] if lines else ''}"


def load_params(workdir: str, stage: str, step: int | None = None):
  """The parameters of a stage's latest (or ``step``'s) saved train state,
  as host arrays, without building the state: the policy for ``rl_*``
  stages, the whole tree otherwise. For evaluation and search entrypoints.

  Raises ``CheckpointError`` (one line) when there is none or it is
  unreadable: these callers need that exact step, not an older one.
  """
  path = _stage_path(workdir, stage)
  manager = ocp.CheckpointManager(path)
  try:
    step = manager.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f"no checkpoint of stage {stage!r} in {path}")
    try:
      params = manager.restore(step, args=ocp.args.StandardRestore())["params"]
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointError(
          f"{path}/{step} is unreadable ({_why(e)}); rerunning the training "
          "command restores it from the newest intact step"
      ) from None
  finally:
    manager.close()
  return params["policy"] if stage.startswith("rl_") else params


def save_params(path: str, params) -> None:
  """A parameter tree alone, as an orbax checkpoint at ``path`` (a trained
  verifier's, which ``rl.prm_path`` and ``tts`` read back)."""
  path = path if "://" in path else os.path.abspath(path)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, params, force=True)


def read_params(path: str, like):
  """Parameters saved by ``save_params``, restored onto the shapes and
  dtypes of ``like`` (an abstract tree, e.g. ``jax.eval_shape`` of an init).
  Raises ``CheckpointError`` naming ``path`` when there are none."""
  path = path if "://" in path else os.path.abspath(path)
  if "://" not in path and not os.path.isdir(path):
    raise CheckpointError(f"no saved parameters at {path}")
  with ocp.StandardCheckpointer() as ckptr:
    return ckptr.restore(path, like)


class Checkpointer:
  """Keeps the last ``keep`` saves of one training stage."""

  def __init__(self, workdir: str, stage: str, keep: int = 3):
    self.path, self.keep = _stage_path(workdir, stage), keep
    self.manager = self._open()

  def _open(self):
    return ocp.CheckpointManager(
        self.path,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=self.keep, create=True
        ),
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, *, force: bool = False) -> bool:
    return self.manager.save(
        step, args=ocp.args.StandardSave(state), force=force
    )

  def restore(self, target):
    """The newest intact saved state, onto ``target``'s shapes, dtypes and
    shardings; ``target`` itself when no step is intact (or none exists).

    An unreadable step is moved to ``<stage>.corrupt/<step>-<time>`` (so
    the run can save that step again) with a warning, and the next older
    one is tried.
    """
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        target,
    )
    while (step := self.latest_step()) is not None:
      try:
        return self.manager.restore(
            step, args=ocp.args.StandardRestore(abstract)
        )
      except Exception as e:  # pylint: disable=broad-except
        self.manager.close()
        aside = (
            epath.Path(f"{self.path}.corrupt") / f"{step}-{int(time.time())}"
        )
        if jax.process_index() == 0:
          aside.parent.mkdir(parents=True, exist_ok=True)
          (epath.Path(self.path) / str(step)).rename(aside)
        multihost.barrier("checkpoint_aside")
        logging.warning(
            "%s/%d is unreadable (%s): moved to %s; falling back "
            "to the step before it",
            self.path,
            step,
            _why(e),
            aside,
        )
        self.manager = self._open()
    return target

  def save_and_stop_if_preempted(self, stage: str, step: int, state):
    """On SIGTERM: saves ``step``, waits for the write, raises Preempted."""
    if stop_requested():
      if self.latest_step() != step:
        self.save(step, state, force=True)
      self.close()
      raise Preempted(stage, step)

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()
