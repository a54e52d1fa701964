"""Orbax checkpoints in ``workdir/checkpoints/<stage>``; resume = same command.

Saves the whole train state (params, optimizer state, step, RNG, data
position). Restores onto the shardings of a target state, so a checkpoint
written on one mesh loads onto another. A save interrupted by a kill leaves a
``*.orbax-checkpoint-tmp`` folder that the manager ignores: the last complete
step is restored.
"""

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Keeps the last ``keep`` saves of one training stage."""

  def __init__(self, workdir: str, stage: str, keep: int = 3):
    path = os.path.abspath(os.path.join(workdir, "checkpoints", stage))
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

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()
