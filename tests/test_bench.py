"""The benchmark's FLOP model against hand counts, and one quick real run."""

import json
import os
import subprocess
import sys

import pytest

from reasoning_jax.models import flops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from configs import bench as bench_config  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_flop_model_matches_hand_counts_of_the_standard_workload():
  m = bench_config.get_config().model
  # Per layer q,o: 256*256 each; k,v: 256*128 each; MLP: 3*256*704;
  # LM head 256*512.
  weights = 4 * (2 * 65536 + 2 * 32768 + 3 * 256 * 704) + 256 * 512
  assert weights == 3_080_192
  assert flops.model_flops_per_token(m, 0) == 2 * weights
  # Attention per token and layer: 4 * heads * head_dim * context.
  assert flops.model_flops_per_token(m, 10) - 2 * weights == 4 * 4 * 4 * 64 * 10
  # The RL issue's floor: 76 GFLOP rollout (matmuls), 305 GFLOP reference
  # pass + update (one forward + forward/backward over 128 x 96 tokens).
  roll = flops.rollout_flops(m, 128, 32, 64)
  assert roll == pytest.approx(76e9, rel=0.04)
  learn = flops.train_flops(m, 128, 96, forwards=2, backwards=1)
  assert learn == pytest.approx(305e9, rel=0.03)


def test_rollout_bytes_match_a_hand_count_of_the_standard_workload():
  m = bench_config.get_config().model
  weights = 4 * 3_080_192  # float32 matmul weights + LM head, every step.
  # Keys and values per position: batch 128 x 4 layers x (k, v) x 2 heads
  # x 64 dims x 4 bytes; step t reads 32 + t positions.
  kv_pos = 128 * 4 * 2 * 2 * 64 * 4
  live = sum(32 + t for t in range(64))
  assert live == 4064
  assert flops.rollout_bytes(m, 128, 32, 64) == 64 * weights + kv_pos * live
  # Roofline: prefill of 16 shared prompts at 1 TFLOP/s + bytes at 1 TB/s.
  prefill = 16 * 32 * flops.model_flops_per_token(m, 16.5)
  assert flops.rollout_roofline_s(m, 128, 32, 64, 8, 1e12, 1e12) == (
      pytest.approx(prefill / 1e12 + (64 * weights + kv_pos * live) / 1e12)
  )
  # bfloat16 halves every byte.
  m.dtype = "bfloat16"
  assert (
      flops.rollout_bytes(m, 128, 32, 64) == (64 * weights + kv_pos * live) / 2
  )


def test_quick_run_writes_json_and_appends_a_table_row(tmp_path):
  table = tmp_path / "BENCH.md"
  cmd = [
      sys.executable,
      "-m",
      "reasoning_jax.bench",
      "--config=configs/bench.py:quick",
      f"--workdir={tmp_path}",
      f"--table={table}",
  ]
  # The table holds a row already: the run appends its own under it.
  table.write_text("# Benchmarks\n\n| 2026-01-01 | earlier row |\n")
  r = subprocess.run(
      cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
  )
  assert r.returncode == 0, r.stderr[-2000:]
  rows = [l for l in table.read_text().splitlines() if l.startswith("| 20")]
  assert len(rows) == 2 and rows[0] == "| 2026-01-01 | earlier row |"
  assert "bench.py:quick" in rows[1]
  rep = json.loads((tmp_path / "bench.json").read_text())
  m = bench_config.get_config("quick").model
  tokens = rep["rollout"]["batch"] * 8
  assert rep["rollout"]["new_tokens_per_s"] == pytest.approx(
      tokens / rep["rollout"]["seconds"]
  )
  assert rep["rollout"]["model_flops"] == flops.rollout_flops(
      m, rep["rollout"]["batch"], 8, 8
  )
  # GRPO holds the policy + 2 Adam moments (float32); PPO adds a critic:
  # the policy's backbone without the LM head, plus a value head (d + 1).
  n = rep["params"]
  critic = n - m.d_model * m.vocab_size + m.d_model + 1
  assert rep["memory_bytes_grpo"] == pytest.approx(3 * 4 * n, rel=0.01)
  assert rep["memory_bytes_ppo"] == pytest.approx(
      3 * 4 * (n + critic), rel=0.01
  )
  ro = rep["rollout"]
  assert ro["roofline_fraction"] == pytest.approx(
      ro["roofline_s"] / ro["seconds"]
  )
  assert 0 < ro["roofline_fraction"] < 1
  for alg in ("grpo", "ppo"):
    s = rep["steps"][alg]
    assert s["total_s"] >= s["update_s"] > 0
    assert 0 < s["learner_mfu"] < 1
