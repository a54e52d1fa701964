"""The study runner: variants × regimes from each seed's shared cold start,
aggregated across seeds against the per-seed records, and resumable."""

import json
import os

import numpy as np
import pytest

from reasoning_jax import compare
from reasoning_jax import config as config_lib
from reasoning_jax.experiments import stats


def _config():
  return config_lib.sibling_config(
      os.path.join(os.path.dirname(__file__), "..", "configs", "x.py"),
      "compare",
  ).get_config("smoke")


def test_variant_specs_parse_into_overrides():
  name, sets = compare.parse_variant(
      "ppo@rl.lam=1.0@rl.whiten_advantages=false"
  )
  assert name == "ppo_rl_lam_1_0_rl_whiten_advantages_false"
  assert sets == {
      "rl.algorithm": "ppo",
      "rl.lam": 1.0,
      "rl.whiten_advantages": False,
  }
  with pytest.raises(config_lib.ConfigError, match="unknown algorithm"):
    compare.parse_variant("nope")


def test_learning_rates_parse_and_bad_entries_are_named():
  from reasoning_jax.config import study as study_config  # pylint: disable=g-import-not-at-top

  c = _config()
  c.study.learning_rates = "grpo=1e-4, ppo=0.0003"
  assert study_config.learning_rates(c.study) == {"grpo": 1e-4, "ppo": 3e-4}
  c.study.learning_rates = "grpo:1e-4"
  with pytest.raises(config_lib.ConfigError, match="study.learning_rates"):
    config_lib.validate(c)
  c.study.learning_rates = "nope=1e-4"
  with pytest.raises(config_lib.ConfigError, match="unknown algorithm"):
    compare.run_study(c, "/nonexistent")


def test_levels_carry_their_own_cold_start_fields():
  c = _config()
  c.study.levels = "0.7,0.97@sft.steps=1200@sft.learning_rate=1e-3"
  levels = compare._levels(c.study)  # pylint: disable=protected-access
  assert levels == [0.7, "0.97@sft.steps=1200@sft.learning_rate=1e-3"]
  assert compare.level_overrides(c.study.axis, levels[0]) == {
      "sft.bare_share": 0.7
  }
  assert compare.level_overrides(c.study.axis, levels[1]) == {
      "sft.bare_share": 0.97,
      "sft.steps": 1200,
      "sft.learning_rate": 1e-3,
  }
  c.study.levels = "0.7@sft.steps"
  with pytest.raises(config_lib.ConfigError, match="study.levels"):
    compare.run_study(c, "/nonexistent")
  c.study.levels = "0.7"
  c.study.learning_rates = "grpo=1e-4,ppo:offpolicy=1e-4"
  with pytest.raises(config_lib.ConfigError, match="unknown algorithm"):
    compare.run_study(c, "/nonexistent")


# The smoke study with a level that sets a cold-start field of its own and an
# off-policy learning rate of GRPO's own.
LEVEL = "0.7@sft.weight_decay=0.02"


def _study_config():
  c = _config()
  c.study.levels = LEVEL
  c.study.learning_rates += ",grpo:off_policy=2e-4"
  return c


@pytest.fixture(scope="module")
def study(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("study"))
  return workdir, compare.run_study(_study_config(), workdir)


def test_study_aggregates_each_seeds_records(study):
  workdir, out = study
  cell = out["cells"][f"sft.bare_share={LEVEL}|off_policy"]
  assert set(cell) == {"grpo", "ppo_rl_lam_1_0", "prefill", "rs"}
  runs = {}
  for seed in (0, 1):
    wd = os.path.join(workdir, f"sft.bare_share={LEVEL}", f"seed_{seed}")
    with open(os.path.join(wd, "config.json")) as f:
      sft = json.load(f)["sft"]
    assert sft["weight_decay"] == 0.02 and sft["bare_share"] == 0.7
    for n in ("grpo", "ppo_rl_lam_1_0"):
      with open(os.path.join(wd, "stages", f"rl_{n}_off_policy.json")) as f:
        runs[n, seed] = json.load(f)["measured"]
    with open(os.path.join(wd, "stages", "sft.json")) as f:
      assert json.load(f)["pass@1"] == pytest.approx(
          runs["grpo", seed]["test_pass@1"] - runs["grpo", seed]["gain"]
      )
  for n in ("grpo", "ppo_rl_lam_1_0"):
    row = cell[n]
    want = stats.across_seeds([runs[n, s]["test_pass@1"] for s in (0, 1)])
    assert row["test_pass@1"]["mean"] == pytest.approx(want["mean"])
    assert row["seeds"] == [0, 1]
    # Off-policy: two passes over four minibatches, settings recorded.
    assert row["settings"]["num_updates"] == 2
  assert cell["ppo_rl_lam_1_0"]["settings"]["lam"] == 1.0
  # study.learning_rates (configs/compare.py: 1e-4 each, 3e-5 off-policy)
  # reaches every run; the last entry for an algorithm and regime wins.
  assert row["settings"]["learning_rate"] == pytest.approx(3e-5)
  assert cell["grpo"]["settings"]["learning_rate"] == pytest.approx(2e-4)
  d = cell["ppo_rl_lam_1_0"]["vs_reference"]["dev_auc"]
  want = [
      runs["ppo_rl_lam_1_0", s]["dev_auc"] - runs["grpo", s]["dev_auc"]
      for s in (0, 1)
  ]
  assert d["mean"] == pytest.approx(np.mean(want))
  assert d["verdict"] in ("differs", "equivalent", "inconclusive")
  curve = runs["grpo", 0]["curve"]
  assert curve[0][0] == 0 and curve[-1][0] == 4  # SFT start to the end.
  assert set(runs["grpo", 0]["passk_after"]) == {"1", "2", "4"}
  # The baselines: no RL steps, so no steps to the threshold.
  for b in ("prefill", "rs"):
    assert cell[b]["steps_to_threshold"] is None
    assert "steps_to_threshold" not in cell[b].get("vs_reference", {})
    assert cell[b]["vs_reference"]["test_pass@1"]["n"] == 2
  probe = out["probe"]["fixed_prompts"]
  assert len(probe["variance"]) == 2 and all(v > 0 for v in probe["variance"])
  assert probe["log_slope"]["n"] == 2
  md = open(os.path.join(workdir, "study.md")).read()
  assert "| grpo |" in md and "ppo_rl_lam_1_0" in md
  assert os.path.getsize(os.path.join(workdir, "study.png")) > 1000


def test_a_rerun_reads_every_record_back(study, monkeypatch):
  workdir, out = study

  def no_training(*args, **kwargs):
    raise AssertionError("a finished variant was trained again")

  monkeypatch.setattr(compare.rl, "run_rl", no_training)
  again = compare.run_study(_study_config(), workdir)
  assert again["cells"] == out["cells"]


def test_probe_statistics_against_numpy():
  from reasoning_jax.experiments import rl_probes  # pylint: disable=g-import-not-at-top

  v = np.random.default_rng(0).normal(size=(5, 3))
  assert rl_probes.total_variance(v) == pytest.approx(
      sum(np.var(v[:, d], ddof=1) for d in range(3))
  )
  assert rl_probes.log_slope([2, 4, 8], [8.0, 4.0, 2.0]) == pytest.approx(-1.0)
