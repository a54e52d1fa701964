"""Rejection sampling keeps exactly the accepted, deduplicated traces; a
rerun skips finished stages."""

import os

from reasoning_jax.data import tasks
from reasoning_jax.train import evaluation
from reasoning_jax.train import rejection


def _ex(p):
  return tasks.Example(p, "5", "ref")


def test_accepted_examples_keep_exactly_accepted_deduplicated():
  exs = [_ex("A"), _ex("A"), _ex("A"), _ex("B"), _ex("B"), _ex("C")]
  texts = ["x = 5", "x  =\n5", "y", "x = 5", "z", "q"]
  ok = [1, 1, 1, 1, 0, 0]
  got = rejection.accepted_examples(exs, texts, ok)
  # A: "x  =\n5" duplicates "x = 5" up to whitespace; B's "x = 5" is kept
  # (another prompt); rejected ones never appear.
  assert got == [
      tasks.Example("A", "5", "x = 5"),
      tasks.Example("A", "5", "y"),
      tasks.Example("B", "5", "x = 5"),
  ]


def test_mix_adds_a_share_of_general_data():
  kept = [_ex(f"k{i}") for i in range(8)]
  general = [_ex(f"g{i}") for i in range(100)]
  out = rejection.mix(kept, general, 0.25, seed=0)
  assert len(out) == 10 and set(kept) <= set(out)
  assert sum(e.prompt.startswith("g") for e in out) == 2
  assert rejection.mix(kept, general, 0.25, seed=0) == out  # deterministic.


def test_reflection_rate_counts_whole_phrases():
  texts = [
      "Wait, 3+4=7",
      "awaited result",
      "Let me check: 7",
      "7",
      "Actually no",
  ]
  assert evaluation.reflection_rate(texts) == 3 / 5


def _smoke_config():
  import importlib.util  # pylint: disable=g-import-not-at-top

  spec = importlib.util.spec_from_file_location(
      "_default",
      os.path.join(
          os.path.dirname(__file__), "..", "..", "configs", "default.py"
      ),
  )
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config("smoke")


def test_a_rerun_skips_finished_stages(tmp_path, caplog):
  import logging  # pylint: disable=g-import-not-at-top

  from reasoning_jax import pipeline  # pylint: disable=g-import-not-at-top

  c = _smoke_config()
  c.stages = "sft,rl,sft"
  first = pipeline.train_and_evaluate(c, str(tmp_path))
  assert list(first)[:3] == ["sft", "rl_grpo", "sft_2"]
  assert sorted(os.listdir(tmp_path / "checkpoints")) == [
      "rl_grpo",
      "sft",
      "sft_2",
  ]
  caplog.set_level(logging.INFO)
  again = pipeline.train_and_evaluate(c, str(tmp_path))
  for name in ("sft", "rl_grpo", "sft_2"):
    assert f"stage {name} finished earlier: skipped" in caplog.text
    assert again[name] == first[name]
  # A stage whose record is gone runs again (from its checkpoint).
  os.remove(tmp_path / "stages" / "sft_2.json")
  caplog.clear()
  third = pipeline.train_and_evaluate(c, str(tmp_path))
  assert "stage sft_2 finished earlier" not in caplog.text
  assert third["sft_2"]["pass@1"] == first["sft_2"]["pass@1"]


def test_rs_stage_with_nothing_accepted_is_a_clear_error(tmp_path):
  import pytest  # pylint: disable=g-import-not-at-top

  from reasoning_jax import pipeline  # pylint: disable=g-import-not-at-top

  c = _smoke_config()  # an untrained smoke policy solves nothing.
  c.stages = "sft,rs"
  c.rs.update(problems=8, samples=2, steps=2)
  with pytest.raises(RuntimeError, match="rs: no accepted sample among 8"):
    pipeline.train_and_evaluate(c, str(tmp_path))
  assert not os.path.exists(tmp_path / "rs.jsonl")
