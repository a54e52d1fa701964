"""Test-time scaling metrics against brute force and hand-worked cases."""

import itertools

import numpy as np
import pytest

from reasoning_jax.search import metrics


@pytest.mark.parametrize("n,c", [(5, 0), (5, 2), (6, 3), (4, 4), (7, 1)])
def test_pass_at_k_matches_enumeration(n, c):
  samples = [1] * c + [0] * (n - c)
  for k in range(1, n + 1):
    subsets = list(itertools.combinations(range(n), k))
    want = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert metrics.pass_at_k(n, c, k) == pytest.approx(want)
  with pytest.raises(ValueError):
    metrics.pass_at_k(3, 4, 1)


def test_majority_vote_groups_equal_values_and_breaks_ties_by_order():
  assert metrics.majority_vote(["1/2", "3", "0.5", "3", "\\frac{1}{2}"]) in (
      "1/2",
  )
  assert metrics.majority_vote(["7", "8", "8", "7"]) == "7"  # tie: first.
  assert metrics.majority_vote([None, None, "4"]) == "4"
  assert metrics.majority_vote([None]) is None
  # Weighted: one confident vote beats two weak ones.
  assert metrics.majority_vote(["2", "3", "3"], [0.9, 0.3, 0.3]) == "2"


def test_best_of_n_and_vote_hand_worked():
  from reasoning_jax.experiments import stats  # pylint: disable=g-import-not-at-top
  from reasoning_jax.search import best_of_n  # pylint: disable=g-import-not-at-top

  scores = np.asarray([[0.2, 0.9, 0.5, 0.1], [0.7, 0.7, 0.1, 0.9]])
  correct = np.asarray([[1, 0, 1, 1], [0, 1, 0, 1]], float)
  np.testing.assert_array_equal(best_of_n.best_of_n(scores, correct, 1), [1, 0])
  np.testing.assert_array_equal(
      best_of_n.best_of_n(scores, correct, 2), [0, 0]
  )  # q1: 0.7 tie -> first sample.
  np.testing.assert_array_equal(best_of_n.best_of_n(scores, correct, 4), [0, 1])
  answers = np.asarray([["3", "4", "3", "3"], ["1/2", "2", "0.5", "2"]], object)
  ok = np.asarray([[1, 0, 1, 1], [1, 0, 1, 0]], float)  # gold 3 and 1/2.
  np.testing.assert_array_equal(best_of_n.vote(answers, ok, 1), [1, 1])
  np.testing.assert_array_equal(best_of_n.vote(answers, ok, 2), [1, 1])
  np.testing.assert_array_equal(best_of_n.vote(answers, ok, 4), [1, 1])
  w = np.asarray([[0.1, 0.9, 0.1, 0.1], [0.1, 0.9, 0.1, 0.1]])
  np.testing.assert_array_equal(best_of_n.vote(answers, ok, 3, w), [0, 0])
  # Many right answers (countdown): the winner is judged by its sample.
  exprs = np.asarray([["1+4", "2+3", "2+3", "9"]], object)
  np.testing.assert_array_equal(
      best_of_n.vote(exprs, np.asarray([[1, 1, 1, 0]]), 4), [1]
  )
  np.testing.assert_array_equal(
      best_of_n.vote(
          np.asarray([[None, None]], object), np.asarray([[0, 0]]), 2
      ),
      [0],
  )
  table = stats.summarize(
      best_of_n.per_problem(answers, correct, {"v": scores}, [1, 2, 4])
  )
  assert table["bon_v"][4]["acc"] == 0.5
  # pass@N from all 4 samples: q0 has 3/4 correct, q1 2/4.
  assert table["pass@N"][1]["acc"] == pytest.approx((0.75 + 0.5) / 2)
  assert table["oracle"][2]["acc"] == pytest.approx(
      (1 - 0.25**2 + 1 - 0.5**2) / 2
  )
  sub = stats.summarize(
      best_of_n.per_problem(answers, correct, {"v": scores}, [4]),
      np.asarray([False, True]),
  )
  assert sub["bon_v"][4]["acc"] == 1.0 and sub["pass@N"][4]["acc"] == 1.0


def test_answer_weighted_voting_is_a_named_selector():
  """weighted_<verifier>: an answer's votes are its samples' summed scores
  (score × count). Two "7"s of score 0.3 lose to one "8" of score 0.9,
  which plain majority picks the other way."""
  from reasoning_jax.search import best_of_n  # pylint: disable=g-import-not-at-top

  answers = np.array([["7", "7", "8"]], object)
  correct = np.array([[0, 0, 1]])
  scores = {"v": np.array([[0.3, 0.3, 0.9]])}
  per = best_of_n.per_problem(answers, correct, scores, [3], vote_weights=["v"])
  assert per["majority"][3][0] == 0.0
  assert per["weighted_v"][3][0] == 1.0
  assert per["bon_v"][3][0] == 1.0
