"""Sharded steps equal the single-device step (8 simulated CPU devices).

The worker runs in its own process because the device count must be fixed
before JAX starts; this process keeps its single CPU device.
"""

import json
import os
import subprocess
import sys

import pytest

WORKER = os.path.join(os.path.dirname(__file__), "mesh_worker.py")


@pytest.fixture(scope="module")
def report():
  r = subprocess.run(
      [sys.executable, WORKER],
      capture_output=True,
      text=True,
      timeout=900,
      check=False,
  )
  assert r.returncode == 0, r.stderr[-3000:]
  return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["sft", "grpo", "ppo", "grpo_mb2", "ppo_mb2"])
def test_train_step_matches_single_device(report, mode):
  """``*_mb2``: ``rl.microbatches=2`` on every mesh, against the unchunked
  step on one device."""
  rows = [r for r in report if r["mode"] == mode]
  assert [r["mesh"] for r in rows] == [
      [1, 1, 1],
      [8, 1, 1],
      [2, 2, 2],
      [1, 2, 4],
  ]
  assert rows[0]["update_max"] > 1e-3  # SGD at lr 1: the gradient itself.
  for r in rows[1:] if not mode.endswith("_mb2") else rows:
    # float32 reductions in another order. The update is the gradient, so
    # a wrong shard, a missing reduction or a gradient off by any constant
    # factor is a relative error far above 1e-4.
    assert r["loss_diff"] <= 1e-6 * max(1.0, abs(r["loss"])), r
    assert r["param_diff"] <= 1e-4 * r["update_max"], r


def test_sampler_is_identical_on_every_mesh(report):
  rows = [r for r in report if r["mode"] == "sample"]
  assert len(rows) == 4
  for r in rows[1:]:
    assert r["param_diff"] == 0, r  # the same sampled tokens.
    assert abs(r["loss_diff"]) <= 1e-3, r  # summed log-probs.


def test_checkpoint_restores_onto_another_mesh_and_training_continues(report):
  rows = [r for r in report if r["mode"] == "restore"]
  assert [r["mesh"] for r in rows] == [[1, 2, 4], [2, 2, 2]]
  for r in rows:
    assert r["exact"] and r["on_new_mesh"] and r["step"] == 3, r
    assert r["param_diff"] <= 1e-5, r  # the next step matches the old mesh.


def test_fresh_init_is_the_same_on_every_mesh(report):
  rows = [r for r in report if r["mode"] == "fresh_init"]
  assert [r["mesh"] for r in rows] == [
      [1, 1, 1],
      [8, 1, 1],
      [2, 2, 2],
      [1, 2, 4],
  ]
  for r in rows:
    assert r["exact"] and r["placed"], r
