"""The claims rows read off a study's runs, against hand-made runs."""

import numpy as np
import pytest

from reasoning_jax.experiments import rl_claims


def _run(variant, seed, **kw):
  base = {
      "variant": variant,
      "seed": seed,
      "level": 0.7,
      "regime": "on_policy",
      "dev_auc": 0.5,
      "gain": 0.4,
      "entropy": 0.03,
      "kl": 0.01,
      "state_bytes": 100,
      "by_difficulty": {"2": 0.9, "5": 0.9},
      "settings": {"kl_beta": 0.04},
  }
  return {**base, **kw}


def test_sample_efficiency_is_the_paired_auc_difference():
  runs = [_run("grpo", s, dev_auc=0.8 + 0.01 * s) for s in range(3)]
  runs += [_run("ppo", s, dev_auc=0.7 + 0.02 * s) for s in range(3)]
  row = rl_claims.sample_efficiency(runs, [0.7], ["on_policy"], 0.03)
  d = row["measured"]["0.7|on_policy"]
  assert d["values"] == pytest.approx([0.1, 0.09, 0.08])
  assert row["verdict"] == "holds"
  same = [_run("grpo", s, dev_auc=0.8) for s in range(3)]
  same += [_run("ppo", s, dev_auc=0.8 + 0.001 * (s - 1)) for s in range(3)]
  row = rl_claims.sample_efficiency(same, [0.7], ["on_policy"], 0.03)
  assert row["verdict"] == "does not hold"  # inside the margin.


def _probe(slopes):
  return {
      "fixed_prompts": {
          "log_slope": {
              "ci95": [min(slopes), max(slopes)],
              "mean": float(np.mean(slopes)),
          }
      },
      "fresh_prompts": {"log_slope": {"ci95": [-0.3, -0.2], "mean": -0.25}},
  }


@pytest.mark.parametrize(
    "slopes, verdict",
    [
        ([-1.2, -0.9], "holds"),
        ([-0.6, -0.3], "partly"),  # falls, not as 1/G.
        ([-1.5, 0.2], "inconclusive"),  # a fall is not even shown.
        ([0.1, 0.4], "does not hold"),
    ],
)
def test_variance_verdicts(slopes, verdict):
  assert rl_claims.variance_vs_group(_probe(slopes))["verdict"] == verdict


def test_memory_ratio_and_the_kl_rows():
  runs = [_run("grpo", s) for s in range(3)]
  runs += [_run("ppo", s, state_bytes=200) for s in range(3)]
  assert rl_claims.memory(runs)["measured"]["GRPO / PPO"]["mean"] == 0.5
  runs += [
      _run("grpo_rl_kl_beta_0_0", s, entropy=0.05 + 0.001 * s, kl=0.0)
      for s in range(3)
  ]
  runs += [_run("grpo_rl_kl_beta_0_4", s, gain=0.1) for s in range(3)]
  rows = {
      r["claim"][:12]: r
      for r in rl_claims.kl_tradeoff(runs, 0.7, "on_policy", 0.03)
  }
  assert rows["A tiny KL be"]["verdict"] == "holds"  # entropy up.
  assert rows["A large KL b"]["verdict"] == "holds"  # it gained less.
