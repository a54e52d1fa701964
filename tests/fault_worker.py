"""``python -m reasoning_jax.main`` that SIGKILLs itself at one point.

``FAULT=<stage>:<step>:<where>`` in the environment, where ``where`` is
- ``write``: right after the checkpoint save of ``step`` starts (orbax
  writes asynchronously, so the process dies mid-write);
- ``metrics``: right after the training metrics row of ``step`` is written,
  before that step's checkpoint (the row is ahead of the checkpoint);
- ``final``: right after the stage's ``final/`` row, before its record.
Without ``FAULT`` it is the plain entrypoint. For ``tests/test_faults.py``.
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reasoning_jax import cli  # pylint: disable=g-import-not-at-top
from reasoning_jax import main as entry  # pylint: disable=g-import-not-at-top
from reasoning_jax.train import checkpoint  # pylint: disable=g-import-not-at-top
from reasoning_jax.train import metrics


def _die():
  sys.stderr.write(f"fault_worker: SIGKILL at {os.environ['FAULT']}\n")
  sys.stderr.flush()
  os.kill(os.getpid(), signal.SIGKILL)


def _arm(stage: str, step: int, where: str):
  if where == "write":
    save = checkpoint.Checkpointer.save

    def killing_save(self, s, state, *, force=False):
      out = save(self, s, state, force=force)
      if os.path.basename(self.path) == stage and s == step:
        _die()
      return out

    checkpoint.Checkpointer.save = killing_save
  else:
    write = metrics.MetricWriter.write

    def killing_write(self, s, values):
      write(self, s, values)
      final = any(k.startswith("final/") for k in values)
      if self.stage == stage and (
          (where == "final" and final)
          or (where == "metrics" and s == step and "loss" in values)
      ):
        _die()

    metrics.MetricWriter.write = killing_write


if __name__ == "__main__":
  if os.environ.get("FAULT"):
    st, sp, wh = os.environ["FAULT"].split(":")
    _arm(st, int(sp), wh)
  entry.define_flags()
  cli.run(entry.main)
