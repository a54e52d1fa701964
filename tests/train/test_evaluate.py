"""Decoding and scoring of sampled completions, against hand-worked rows."""

import numpy as np

from reasoning_jax.data import tokenizer
from reasoning_jax.data.arith import Arith
from reasoning_jax.sampling.sampler import SampleOutput
from reasoning_jax.train import evaluate


def test_decode_and_score_hand_worked(tmp_path):
  tok = tokenizer.get_tokenizer("", str(tmp_path), ["arith", "countdown"])
  task = Arith()
  ex = task.example("test", 0)
  good = tok.encode(ex.solution) + [tok.eos_id]
  wrong = tok.encode(ex.solution.replace(f"{{{ex.answer}}}", "{7777}"))
  n = max(len(good), len(wrong)) + 2
  tokens = np.zeros((3, n), np.int32)
  tokens[0, :len(good)] = good
  tokens[1, :len(wrong)] = wrong  # no eos: cut off by the budget.
  lengths = np.array([len(good), len(wrong), 0])
  out = SampleOutput(tokens, np.zeros((3, n)), tokens > 0, lengths)
  texts, got_len, truncated = evaluate.decode_completions(tok, out)
  assert texts == [ex.solution, ex.solution.replace(f"{{{ex.answer}}}",
                                                    "{7777}"), ""]
  np.testing.assert_array_equal(got_len, lengths)
  np.testing.assert_array_equal(truncated, [False, True, True])
  correct, fmt = evaluate.score(task, texts, [ex] * 3)
  np.testing.assert_array_equal(correct, [1, 0, 0])
  np.testing.assert_array_equal(fmt, [1, 1, 0])
