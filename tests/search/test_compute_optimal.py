"""Compute-optimal selection against hand-worked cases."""

import numpy as np

from reasoning_jax.search import compute_optimal as co


def test_agreement_and_levels():
  answers = np.asarray(
      [
          ["1", "1", "2", None],
          ["3", "3", "3", "3"],
          ["1/2", "0.5", "7", "8"],
          [None] * 4,
      ],
      object,
  )
  np.testing.assert_allclose(co.agreement(answers, 4), [0.5, 1, 0.5, 0])
  np.testing.assert_allclose(co.agreement(answers, 2), [1, 1, 1, 0])
  np.testing.assert_array_equal(
      co.levels([1.0, 0.5, 0.75, 1.0, 0.25]), [0, 2, 1, 0, 3]
  )


def test_choose_respects_budget_and_ties():
  per = {
      "a": {1: [1, 0, 1, 0], 2: [1, 1, 1, 0]},
      "b": {1: [0, 1, 0, 1]},
      "oracle": {1: [1, 1, 1, 1]},
  }
  cost = {"a": {1: 1.0, 2: 2.0}, "b": {1: 1.0}, "oracle": {1: 0.0}}
  everything = np.ones(4, bool)
  assert co.choose(per, cost, everything, 1.0) == ("a", 1)  # tie: first.
  assert co.choose(per, cost, everything, 2.0) == ("a", 2)
  assert co.choose(per, cost, np.asarray([0, 1, 0, 1], bool), 2.0) == (
      "b",
      1,
  )  # 1.0 on these, and cheaper than a@2's 0.5.
  assert co.choose(per, cost, everything, 0.5) is None


def test_curve_picks_per_bin_and_cross_fits():
  """Bin 0: method a right, b wrong; bin 1 the reverse. Per-bin choice is
  always right; the best single method is right on half."""
  bins = np.asarray([0, 0, 1, 1, 0, 0, 1, 1])
  a = (bins == 0).astype(float)
  per = {"a": {1: a}, "b": {1: 1 - a}, "b2": {2: np.ones(8)}}
  flops = {"a": {1: 1.0}, "b": {1: 1.0}, "b2": {2: 2.0}}
  rows = co.curve(
      per,
      flops,
      bins,
      [0.5, 1.0, 2.0, 3.0],
      estimate_samples=2,
      sample_flops=1.0,
  )
  by = {r["budget"]: r for r in rows}
  assert 0.5 not in by  # nothing fits.
  # At 1.0 the binned strategy cannot pay for its 2-sample estimate, so it
  # falls back to the fixed choice.
  assert by[1.0]["compute_optimal"] == 0.5 and by[1.0]["best_fixed"] == 0.5
  # At 2.0 a@1 / b@1 cost 1 + 1 (the estimate's second sample).
  assert by[2.0]["compute_optimal"] == 1.0
  assert by[2.0]["best_fixed"] == 1.0 and by[2.0]["fixed_choice"] == [
      "b2@2",
      "b2@2",
  ]
  assert by[2.0]["choices"] == {0: ["a@1", "a@1"], 1: ["b@1", "b@1"]}


def test_searches_pay_for_the_whole_estimate():
  """A method that reuses no sample is charged all of the estimate."""
  bins = np.asarray([0, 0, 1, 1])
  per = {
      "search": {4: (bins == 0).astype(float)},
      "majority": {1: (bins == 1).astype(float)},
  }
  flops = {"search": {4: 2.0}, "majority": {1: 1.0}}
  kw = dict(estimate_samples=2, sample_flops=1.0)
  free = co.curve(per, flops, bins, [3.0], **kw)[0]
  assert free["compute_optimal"] == 1.0  # search charged 2 + 0 by default.
  paid = co.curve(
      per, flops, bins, [3.0], reused={"search": lambda n: 0}, **kw
  )[0]
  # search now costs 2 + 2 > 3: bin 0 falls back to the half's choice.
  assert paid["choices"][0] == ["majority@1", "majority@1"]
  assert paid["compute_optimal"] == 0.5
