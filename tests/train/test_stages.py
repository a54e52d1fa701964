"""The stage bookkeeping: the workdir lock."""

import json
import os
import subprocess
import sys

import pytest

from reasoning_jax.train import stages


def test_workdir_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
  """A second run on a held workdir stops at once with the holder's pid and
  host; a lock whose pid is gone (a killed run) is taken over; the lock is
  released when the run ends, also on an exception."""
  import socket  # pylint: disable=g-import-not-at-top

  logdir = str(tmp_path)
  with stages.workdir_lock(logdir):
    with pytest.raises(
        stages.WorkdirBusy,
        match=f"in use by pid {os.getpid()} on {socket.gethostname()}",
    ):
      with stages.workdir_lock(logdir):
        pass
  assert not os.path.exists(tmp_path / "LOCK")  # released.
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  (tmp_path / "LOCK").write_text(
      json.dumps({"pid": dead.pid, "host": socket.gethostname()})
  )
  with pytest.raises(RuntimeError, match="inside"):
    with stages.workdir_lock(logdir):  # stale: taken over.
      assert json.loads((tmp_path / "LOCK").read_text())["pid"] == (os.getpid())
      raise RuntimeError("inside")
  assert not os.path.exists(tmp_path / "LOCK")
