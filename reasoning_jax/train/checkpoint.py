"""Orbax checkpoints in ``workdir/checkpoints/<stage>``; resume = same command.

Saves the whole train state (params, optimizer state, step, RNG, data
position). Restores onto the shardings of a target state, so a checkpoint
written on one mesh loads onto another. A save interrupted by a kill leaves a
``*.orbax-checkpoint-tmp`` folder that the manager ignores: the last complete
step is restored.

Preemption: ``install_sigterm_handler()`` (the entrypoint calls it) turns
SIGTERM into a flag; each training loop checks ``stop_requested()`` after
every step, saves that step and raises ``Preempted``; the entrypoint exits
with status 143 (128 + SIGTERM). Rerunning the command resumes exactly there.
"""

import os
import signal

import jax
import orbax.checkpoint as ocp

_SIGTERM = {"seen": False}


class Preempted(Exception):
  """SIGTERM arrived; the stage saved its current step before raising."""

  def __init__(self, stage: str, step: int):
    super().__init__(f"preempted (SIGTERM): {stage} saved at step {step}; "
                     "rerun the same command to resume")
    self.stage, self.step = stage, step


def install_sigterm_handler():
  """SIGTERM sets a flag instead of killing the process (main thread only)."""
  def handle(signum, frame):
    del signum, frame
    _SIGTERM["seen"] = True
  signal.signal(signal.SIGTERM, handle)


def stop_requested() -> bool:
  """Whether any process has received SIGTERM (all processes agree)."""
  from reasoning_jax.parallel import multihost  # pylint: disable=g-import-not-at-top
  return multihost.any_process(_SIGTERM["seen"])


def load_params(workdir: str, stage: str, step: int | None = None):
  """The parameters of a stage's latest (or ``step``'s) saved train state,
  as host arrays, without building the state: the policy for ``rl_*``
  stages, the whole tree otherwise. For evaluation and search entrypoints.
  """
  path = os.path.join(workdir, "checkpoints", stage)
  path = path if "://" in path else os.path.abspath(path)
  manager = ocp.CheckpointManager(path)
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f"no checkpoint of stage {stage!r} in {path}")
  params = manager.restore(step, args=ocp.args.StandardRestore())["params"]
  manager.close()
  return params["policy"] if stage.startswith("rl_") else params


class Checkpointer:
  """Keeps the last ``keep`` saves of one training stage."""

  def __init__(self, workdir: str, stage: str, keep: int = 3):
    path = os.path.join(workdir, "checkpoints", stage)
    if "://" not in path:  # gs://... goes to orbax as is.
      path = os.path.abspath(path)
    self.manager = ocp.CheckpointManager(
        path, options=ocp.CheckpointManagerOptions(max_to_keep=keep,
                                                   create=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, *, force: bool = False) -> bool:
    return self.manager.save(step, args=ocp.args.StandardSave(state),
                             force=force)

  def restore(self, target, step: int | None = None):
    """Restores onto ``target``'s shapes, dtypes and shardings."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        target)
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))

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
