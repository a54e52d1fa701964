"""The GRPO-vs-PPO comparison on the smoke config: PNG, table and numbers
read back against the runs' own metrics and parameter trees."""

import json

import numpy as np

from reasoning_jax import compare
from reasoning_jax.train import metrics

from conftest import default_config


def test_compare_grpo_and_ppo(tmp_path):
  c = default_config("smoke")
  out = compare.compare(c, str(tmp_path))
  with open(tmp_path / "compare.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  with open(tmp_path / "compare.json") as f:
    assert json.load(f) == json.loads(json.dumps(out))
  for alg in ("grpo", "ppo"):
    rows = metrics.read_metrics(str(tmp_path), f"rl_{alg}")
    final = [r for r in rows if "final/pass@1" in r][-1]
    assert out["runs"][alg]["pass@1"] == final["final/pass@1"]
    steps = [r["rollout_s"] + r["update_s"] for r in rows if "rollout_s" in r]
    assert len(steps) == c.rl.steps
    r = out["runs"][alg]
    assert r["fixed"] - r["broken"] == round(r["delta_vs_sft"]
                                             * c.eval.num_problems)
    np.testing.assert_allclose(out["runs"][alg]["seconds_per_step"],
                               np.median(steps))
  # Memory by hand: the smoke policy has p parameters; GRPO holds params +
  # two Adam moments (3p floats); PPO adds a critic of the same backbone plus
  # a value head (d+1), with its own moments.
  p = out["runs"]["grpo"]["reference_policy_bytes"] // 4
  d, v = c.model.d_model, c.model.vocab_size
  critic = p - d * v + d + 1  # no LM head, a value head instead.
  assert out["runs"]["grpo"]["params_plus_optimizer_bytes"] == 4 * 3 * p + 4 * 2
  assert out["runs"]["ppo"]["params_plus_optimizer_bytes"] == (
      4 * 3 * (p + critic) + 4 * 2 * 2)
  assert "| grpo |" in open(tmp_path / "compare.md").read()
