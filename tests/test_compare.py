"""GRPO vs PPO per seed: the aggregate against each seed's own compare."""

import json
import os

from conftest import default_config
import pytest

from reasoning_jax import compare


def test_compare_seeds_aggregates_each_seeds_runs(tmp_path):
  c = default_config("smoke")
  c.rl.steps = 2
  agg = compare.compare_seeds(c, str(tmp_path), [0, 1])
  for i, seed in enumerate((0, 1)):
    with open(tmp_path / f"seed_{seed}" / "compare.json") as f:
      one = json.load(f)
    assert agg["sft_pass@1"][i] == one["sft_pass@1"]
    for alg in compare.DEFAULT_ALGORITHMS:
      a, r = agg["algorithms"][alg], one["runs"][alg]
      assert a["delta"][i] == r["delta_vs_sft"]
      assert a["ci95"][i] == r["delta_ci95"]
      assert (a["fixed"][i], a["broken"][i]) == (r["fixed"], r["broken"])
      lo, hi = r["delta_ci95"]
      assert lo <= r["delta_vs_sft"] <= hi
  for alg in compare.DEFAULT_ALGORITHMS:
    a = agg["algorithms"][alg]
    assert a["mean"] == pytest.approx(sum(a["delta"]) / 2)
  md = open(tmp_path / "compare_seeds.md").read()
  assert "| grpo |" in md and "| ppo |" in md
  assert os.path.exists(tmp_path / "compare_seeds.json")
