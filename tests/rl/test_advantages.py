"""Advantage estimators against hand-worked values and plain loops."""

import jax
import numpy as np
import pytest

from reasoning_jax.rl import advantages as adv_lib
from reasoning_jax.rl.advantages import gae_advantages
from reasoning_jax.rl.advantages import grpo_advantages


def test_grpo_hand_worked():
  # Group [1, 0, 0, 1]: mean 0.5, biased std 0.5 -> A = ±1 (minus eps).
  adv, keep = grpo_advantages(np.array([[1.0, 0.0, 0.0, 1.0]]), eps=0.0)
  np.testing.assert_allclose(adv, [[1.0, -1.0, -1.0, 1.0]], atol=1e-6)
  assert np.asarray(keep).all()


def test_grpo_matches_numpy_and_all_equal_groups_are_zero_not_nan():
  r = np.array([[1.0, 0.0, 0.5], [2.0, 2.0, 2.0], [0.0, 3.0, 1.0]])
  adv, _ = jax.jit(lambda x: grpo_advantages(x, eps=1e-6))(r)
  want = (r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + 1e-6)
  want[1] = 0.0
  np.testing.assert_allclose(adv, want, rtol=1e-5)
  assert np.isfinite(np.asarray(adv)).all()


def test_grpo_variants():
  r = np.array([[1.0, 0.0], [4.0, 4.0], [0.0, 0.02]])
  est = adv_lib.GROUP_ADVANTAGES
  assert sorted(est) == [
      "batch_norm",
      "dr_grpo",
      "grpo",
      "grpo_floor",
      "grpo_skip",
      "rloo",
  ]
  adv, keep = est["grpo_skip"](r)
  np.testing.assert_array_equal(keep, [[1, 1], [0, 0], [1, 1]])
  np.testing.assert_allclose(adv[1], [0, 0])
  adv, keep = est["dr_grpo"](r)
  np.testing.assert_allclose(adv, r - r.mean(1, keepdims=True))
  assert np.asarray(keep).all()
  adv, _ = est["grpo_floor"](r, std_floor=0.1, eps=0.0)
  # Row 2: std 0.01 is floored to 0.1 -> A = ±0.01 / 0.1.
  np.testing.assert_allclose(adv[2], [-0.1, 0.1], rtol=1e-5)
  np.testing.assert_allclose(adv[0], [1.0, -1.0], rtol=1e-5)


def _gae_loop(r, v, m, gamma, lam):
  b, t = r.shape
  adv = np.zeros((b, t))
  for i in range(b):
    n = int(m[i].sum())  # valid tokens are a prefix.
    last = 0.0
    for j in reversed(range(n)):
      v_next = v[i, j + 1] if j + 1 < n else 0.0
      delta = r[i, j] + gamma * v_next - v[i, j]
      last = delta + gamma * lam * last
      adv[i, j] = last
  return adv, (adv + v) * m


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 0.5), (1.0, 1.0)])
def test_gae_matches_python_loop(gamma, lam):
  rng = np.random.default_rng(0)
  r, v = rng.normal(size=(4, 7)), rng.normal(size=(4, 7))
  m = np.arange(7)[None] < np.array([[7], [3], [1], [0]])
  adv, ret = jax.jit(lambda *a: gae_advantages(*a, gamma=gamma, lam=lam))(
      r, v, m
  )
  want_adv, want_ret = _gae_loop(r, v, m, gamma, lam)
  np.testing.assert_allclose(adv, want_adv, atol=1e-5)
  np.testing.assert_allclose(ret, want_ret, atol=1e-5)
  assert (np.asarray(adv)[~m] == 0).all()


def test_gae_hand_worked_terminal_reward():
  # Reward 1 at the last of 3 tokens, V = 0.5 everywhere, γ = λ = 1:
  # A_t = 1 - V_t = 0.5 for every t; returns = 1.
  adv, ret = gae_advantages(
      np.array([[0.0, 0.0, 1.0]]),
      np.full((1, 3), 0.5),
      np.ones((1, 3), bool),
      gamma=1.0,
      lam=1.0,
  )
  np.testing.assert_allclose(adv, [[0.5, 0.5, 0.5]], atol=1e-6)
  np.testing.assert_allclose(ret, [[1.0, 1.0, 1.0]], atol=1e-6)


def test_rloo_is_the_leave_one_out_baseline_in_numpy():
  r = np.array([[1.0, 0.0, 0.0, 1.0], [0.3, 0.3, 0.9, 0.1]])
  adv, keep = adv_lib.rloo_advantages(r)
  want = np.array([
      [r[p, i] - np.delete(r[p], i).mean() for i in range(4)] for p in range(2)
  ])
  np.testing.assert_allclose(adv, want, rtol=1e-6, atol=1e-7)
  assert np.asarray(keep).all()


def test_batch_norm_normalises_over_the_whole_batch_not_the_group():
  r = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])  # group 0 all equal.
  adv, _ = adv_lib.batch_norm_advantages(r, eps=0.0)
  np.testing.assert_allclose(adv, (r - r.mean()) / r.std(), rtol=1e-6)
  assert float(adv[0, 0]) > 0  # an all-right group still gets signal.
  zero, _ = adv_lib.batch_norm_advantages(np.ones((2, 3)))
  np.testing.assert_array_equal(zero, 0.0)
