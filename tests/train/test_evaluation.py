"""Decoding and scoring of sampled completions, against hand-worked rows."""

import numpy as np

from reasoning_jax.data import tokenizer
from reasoning_jax.data.arith import Arith
from reasoning_jax.sampling import generate as generate_lib
from reasoning_jax.sampling.sampler import SampleOutput
from reasoning_jax.train import evaluation


def test_decode_and_score_hand_worked(tmp_path):
  tok = tokenizer.get_tokenizer("", str(tmp_path), ["arith", "countdown"])
  task = Arith()
  ex = task.example("test", 0)
  good = tok.encode(ex.solution) + [tok.eos_id]
  wrong = tok.encode(ex.solution.replace(f"{{{ex.answer}}}", "{7777}"))
  n = max(len(good), len(wrong)) + 2
  tokens = np.zeros((3, n), np.int32)
  tokens[0, : len(good)] = good
  tokens[1, : len(wrong)] = wrong  # no eos: cut off by the budget.
  lengths = np.array([len(good), len(wrong), 0])
  out = SampleOutput(tokens, np.zeros((3, n)), tokens > 0, lengths)
  texts, got_len, truncated = generate_lib.decode_completions(tok, out)
  assert texts == [
      ex.solution,
      ex.solution.replace(f"{{{ex.answer}}}", "{7777}"),
      "",
  ]
  np.testing.assert_array_equal(got_len, lengths)
  np.testing.assert_array_equal(truncated, [False, True, True])
  correct, fmt = evaluation.score(task, texts, [ex] * 3)
  np.testing.assert_array_equal(correct, [1, 0, 0])
  np.testing.assert_array_equal(fmt, [1, 1, 0])


def test_opens_think_hand_worked():
  assert evaluation.opens_think("<think>\n1+2=3\n</think>\n\\boxed{3}")
  assert evaluation.opens_think("  \n<think>x")
  assert not evaluation.opens_think("\\boxed{3}")
  assert not evaluation.opens_think("3 <think>")
  assert not evaluation.opens_think("")


def test_by_difficulty_against_a_loop():
  rng = np.random.default_rng(0)
  correct = rng.random(200) < 0.5
  levels = rng.integers(2, 6, 200)
  got = evaluation.by_difficulty(correct, levels)
  assert list(got) == ["2", "3", "4", "5"]
  for k, v in got.items():
    hits = [c for c, lv in zip(correct, levels) if lv == int(k)]
    assert v == sum(hits) / len(hits)


def test_stage_result_and_flat_metrics():
  r = {
      "pass@1": 0.5,
      "format": 1.0,
      "think": 0.25,
      "length": 9.0,
      "truncated": 0.0,
      "reflection": 0.0,
      "num_problems": 4,
      "correct": np.array([1, 0, 1, 0]),
      "texts": {},
      "by_difficulty": {"2": 1.0, "3": 0.0},
  }
  res = evaluation.stage_result(r)
  assert set(res) == set(evaluation.SUMMARY_KEYS) | {
      "num_problems",
      "by_difficulty",
  }
  flat = evaluation.flat_metrics({**res, "train_seconds": 3.0}, "final")
  assert flat["final/think"] == 0.25 and flat["final/train_seconds"] == 3.0
  assert flat["final/pass@1_d2"] == 1.0 and flat["final/pass@1_d3"] == 0.0
  assert "final/by_difficulty" not in flat


def test_sampled_pass_at_k_with_a_prefill_against_a_loop(monkeypatch):
  """Every sample's prompt ends with the prefill and its scored text starts
  with it; pass@k per problem is the unbiased estimator, averaged."""
  from reasoning_jax.search import metrics  # pylint: disable=g-import-not-at-top

  seen = []
  # Problem 0: 3 of 4 samples right; problem 1: 1 of 4.
  right = [True, True, False, True, False, False, True, False]

  def fake_generate(sample_fn, params, tok, prompts, rng, **kwargs):
    del sample_fn, params, tok, rng, kwargs
    seen.extend(prompts)
    texts = [("ok" if r else "no") for r in right]
    return generate_lib.Generated(texts, None, None, None, None)

  class Task:

    def is_correct(self, text, ex):
      del ex
      return text == "<think>\nok"

  monkeypatch.setattr(evaluation, "generate", fake_generate)
  examples = [Arith().example("test", i) for i in range(2)]
  out = evaluation.sampled_pass_at_k(
      None,
      None,
      None,
      Task(),
      examples,
      None,
      n=4,
      temperature=1.0,
      max_prompt_len=64,
      batch_size=8,
      prefill="<think>\n",
  )
  assert len(seen) == 8 and all(p.endswith("<think>\n") for p in seen)
  assert out["num_correct"] == [3, 1]
  for k in (1, 2, 4):
    want = np.mean([metrics.pass_at_k(4, c, k) for c in (3, 1)])
    assert out["pass@k"][str(k)] == want
