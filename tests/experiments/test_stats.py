"""Bootstrap intervals against the normal approximation and hand counts."""

import math

import numpy as np
import pytest

from reasoning_jax.experiments import stats


def test_constant_verdicts_have_a_point_interval():
  assert stats.bootstrap_ci(np.ones(50)) == (1.0, 1.0)
  assert stats.bootstrap_ci(np.zeros(7)) == (0.0, 0.0)


@pytest.mark.parametrize("p,n", [(0.5, 2048), (0.2, 1024), (0.9, 4096)])
def test_interval_matches_the_normal_approximation(p, n):
  """For n Bernoulli verdicts the 95% interval is close to
  p̂ ± 1.96 sqrt(p̂(1−p̂)/n) (an independent formula)."""
  v = (np.random.default_rng(1).random(n) < p).astype(float)
  lo, hi = stats.bootstrap_ci(v, resamples=4000)
  m = v.mean()
  half = 1.96 * np.sqrt(m * (1 - m) / n)
  assert lo < m < hi
  np.testing.assert_allclose([lo, hi], [m - half, m + half], atol=0.25 * half)


def test_interval_is_deterministic_and_narrows_with_level():
  v = np.random.default_rng(0).random(300) < 0.4
  assert stats.bootstrap_ci(v) == stats.bootstrap_ci(v)
  lo90, hi90 = stats.bootstrap_ci(v, level=0.9)
  lo95, hi95 = stats.bootstrap_ci(v)
  assert lo95 <= lo90 < hi90 <= hi95


def test_paired_delta_hand_worked():
  got = stats.paired_delta([1, 0, 0, 1, 1], [1, 1, 1, 0, 1])
  assert got["delta"] == pytest.approx(0.2)
  assert (got["fixed"], got["broken"], got["num_problems"]) == (2, 1, 5)
  lo, hi = got["ci95"]
  assert -1 <= lo <= 0.2 <= hi <= 1


def test_paired_interval_is_narrower_than_unpaired():
  """Correlated verdicts: the paired interval of the difference is much
  narrower than what two independent intervals would suggest."""
  rng = np.random.default_rng(0)
  before = rng.random(2048) < 0.5
  after = before | (rng.random(2048) < 0.1)  # fixes only.
  d = stats.paired_delta(before, after)
  lo, hi = d["ci95"]
  assert d["broken"] == 0 and lo > 0
  b_lo, b_hi = stats.bootstrap_ci(before)
  assert hi - lo < 0.5 * (b_hi - b_lo)


def test_bootstrap_ci_brackets_the_mean():
  x = np.random.default_rng(0).uniform(size=400) < 0.3
  lo, hi = stats.bootstrap_ci(x)
  assert lo < x.mean() < hi and hi - lo < 0.12
  se = math.sqrt(0.3 * 0.7 / 400)
  assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_across_seeds_is_the_t_interval():
  v = [0.5, 0.6, 0.55, 0.7, 0.65]
  got = stats.across_seeds(v)
  sd = np.std(v, ddof=1)
  half = 2.776 * sd / math.sqrt(5)
  assert got["mean"] == pytest.approx(0.6)
  assert got["ci95"] == pytest.approx([0.6 - half, 0.6 + half])
  assert (got["min"], got["max"], got["n"]) == (0.5, 0.7, 5)
  assert np.isnan(stats.across_seeds([0.3])["ci95"][0])


def test_verdicts():
  assert stats.verdict([0.01, 0.05], 0.02) == "differs"
  assert stats.verdict([-0.05, -0.01], 0.02) == "differs"
  assert stats.verdict([-0.01, 0.015], 0.02) == "equivalent"
  assert stats.verdict([-0.01, 0.04], 0.02) == "inconclusive"
  assert stats.verdict([float("nan")] * 2, 0.02) == "inconclusive"
