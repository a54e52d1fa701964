"""Losses: k3, clipping at the boundaries, reductions, mask invariance and
stopped gradients, against NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasoning_jax.rl import losses


def test_k3_is_nonnegative_and_zero_when_equal():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(50,)) * 3, rng.normal(size=(50,)) * 3
  k = np.asarray(losses.kl_k3(a, b))
  np.testing.assert_allclose(k, np.exp(b - a) - (b - a) - 1, rtol=1e-5)
  assert (k >= 0).all()
  np.testing.assert_allclose(losses.kl_k3(a, a), 0.0, atol=1e-7)


def _np_grpo(lp, old, ref, adv, mask, eps, beta, eps_hi=None):
  eps_hi = eps if eps_hi is None else eps_hi
  ratio = np.exp(lp - old)
  a = adv[:, None]
  per = -np.minimum(ratio * a, np.clip(ratio, 1 - eps, 1 + eps_hi) * a)
  d = ref - lp
  per = per + beta * (np.exp(d) - d - 1)
  return (per * mask).sum() / mask.sum()


@pytest.mark.parametrize("eps_hi", [None, 0.28])
def test_grpo_loss_matches_numpy(eps_hi):
  rng = np.random.default_rng(1)
  lp, old, ref = (rng.normal(size=(4, 6)) * 0.3 - 1 for _ in range(3))
  adv, mask = rng.normal(size=4), rng.random((4, 6)) > 0.3
  loss, _ = jax.jit(
      lambda *a: losses.grpo_loss(
          *a, clip_eps=0.2, kl_beta=0.04, clip_eps_high=eps_hi
      )
  )(lp, old, ref, adv, mask)
  np.testing.assert_allclose(
      loss, _np_grpo(lp, old, ref, adv, mask, 0.2, 0.04, eps_hi), rtol=1e-5
  )


@pytest.mark.parametrize(
    "ratio,adv,clipped,want",
    [
        (1.5, 1.0, True, -1.2),  # A>0, ρ above 1+ε: clipped at 1.2.
        (1.1, 1.0, False, -1.1),  # inside the band.
        (0.5, 1.0, False, -0.5),  # A>0, ρ low: min keeps the unclipped ρA.
        (0.5, -1.0, True, 0.8),  # A<0, ρ below 1−ε: clipped at 0.8.
        (1.5, -1.0, False, 1.5),  # A<0, ρ high: unclipped (pessimistic).
    ],
)
def test_clipping_at_ratio_boundaries(ratio, adv, clipped, want):
  lp = jnp.log(jnp.array([[ratio]]))
  loss, m = losses.clipped_surrogate(
      lp,
      jnp.zeros((1, 1)),
      jnp.array([[adv]]),
      jnp.ones((1, 1), bool),
      clip_eps=0.2,
  )
  np.testing.assert_allclose(loss, want, rtol=1e-6)
  g = jax.grad(
      lambda x: losses.clipped_surrogate(
          x,
          jnp.zeros((1, 1)),
          jnp.array([[adv]]),
          jnp.ones((1, 1), bool),
          clip_eps=0.2,
      )[0]
  )(lp)
  assert (float(g[0, 0]) == 0.0) == clipped  # clipped tokens get no grad.
  assert float(m["clip_high"] + m["clip_low"]) == float(clipped)


def test_reductions_hand_worked():
  x = jnp.array([[1.0, 3.0, 0.0], [2.0, 0.0, 0.0]])
  m = jnp.array([[True, True, False], [True, False, False]])
  np.testing.assert_allclose(losses.REDUCTIONS["token_mean"](x, m), 2.0)
  np.testing.assert_allclose(losses.REDUCTIONS["seq_mean"](x, m), 2.0)
  np.testing.assert_allclose(losses.REDUCTIONS["constant"](x, m), 1.0)
  x2 = jnp.array([[1.0, 3.0, 0.0], [4.0, 0.0, 0.0]])
  np.testing.assert_allclose(losses.REDUCTIONS["token_mean"](x2, m), 8 / 3)
  np.testing.assert_allclose(losses.REDUCTIONS["seq_mean"](x2, m), 3.0)


def test_padding_values_do_not_change_any_loss():
  rng = np.random.default_rng(2)
  lp, old, ref = (rng.normal(size=(3, 5)) * 0.3 for _ in range(3))
  mask = np.arange(5)[None] < np.array([[5], [2], [3]])
  junk = lambda x: np.where(mask, x, rng.normal(size=x.shape) * 50)
  adv_b, adv_bt = rng.normal(size=3), rng.normal(size=(3, 5))
  v, ov, ret = (rng.normal(size=(3, 5)) for _ in range(3))
  for red in losses.REDUCTIONS:
    a = losses.grpo_loss(lp, old, ref, adv_b, mask, reduction=red)[0]
    b = losses.grpo_loss(
        junk(lp), junk(old), junk(ref), adv_b, mask, reduction=red
    )[0]
    np.testing.assert_allclose(a, b, rtol=1e-6)
  a = losses.ppo_loss(lp, old, ref, adv_bt, mask, v, ov, ret, kl_beta=0.1)[0]
  b = losses.ppo_loss(
      junk(lp),
      junk(old),
      junk(ref),
      junk(adv_bt),
      mask,
      junk(v),
      junk(ov),
      junk(ret),
      kl_beta=0.1,
  )[0]
  np.testing.assert_allclose(a, b, rtol=1e-6)


def test_no_gradient_reaches_old_or_ref_logprobs_or_advantages():
  rng = np.random.default_rng(3)
  lp, old, ref = (jnp.asarray(rng.normal(size=(2, 4)) * 0.3) for _ in range(3))
  adv, mask = jnp.asarray(rng.normal(size=2)), jnp.ones((2, 4), bool)
  g = jax.grad(
      lambda o, r, a: losses.grpo_loss(lp, o, r, a, mask)[0], argnums=(0, 1, 2)
  )(old, ref, adv)
  for x in g:
    np.testing.assert_array_equal(x, 0.0)
  gl = jax.grad(lambda l: losses.grpo_loss(l, old, ref, adv, mask)[0])(lp)
  assert np.abs(np.asarray(gl)).sum() > 0
  v = jnp.asarray(rng.normal(size=(2, 4)))
  gv = jax.grad(
      lambda ov, rt: losses.value_loss(v, ov, rt, mask), argnums=(0, 1)
  )(v * 0.5, v + 1)
  for x in gv:
    np.testing.assert_array_equal(x, 0.0)


def test_value_loss_clipping_hand_worked():
  # V_old = 0, V = 1, R = 1, clip 0.2: unclipped err 0, clipped (0.2-1)^2
  # -> 0.5 * max(0, 0.64) = 0.32.
  loss = losses.value_loss(
      jnp.ones((1, 1)),
      jnp.zeros((1, 1)),
      jnp.ones((1, 1)),
      jnp.ones((1, 1), bool),
      clip=0.2,
  )
  np.testing.assert_allclose(loss, 0.32, rtol=1e-6)


def test_ppo_loss_combines_terms():
  """Against NumPy formulas for every term (none taken from the module)."""
  rng = np.random.default_rng(4)
  lp, old, ref, adv, v, ov, ret, ent = (
      rng.normal(size=(2, 3)) for _ in range(8)
  )
  mask = np.array([[1, 1, 1], [1, 1, 0]], bool)
  loss, m = losses.ppo_loss(
      lp,
      old,
      ref,
      adv,
      mask,
      v,
      ov,
      ret,
      ent,
      kl_beta=0.1,
      value_coef=0.5,
      entropy_coef=0.01,
      clip_eps=0.2,
      value_clip=0.2,
  )
  mean = lambda x: (x * mask).sum() / mask.sum()  # pylint: disable=unnecessary-lambda-assignment
  ratio = np.exp(lp - old)
  pg = -np.minimum(ratio * adv, np.clip(ratio, 0.8, 1.2) * adv)
  kl = np.exp(ref - lp) - (ref - lp) - 1
  v_clip = ov + np.clip(v - ov, -0.2, 0.2)
  vl = 0.5 * np.maximum((v - ret) ** 2, (v_clip - ret) ** 2)
  want = mean(pg) + 0.1 * mean(kl) + 0.5 * mean(vl) - 0.01 * mean(ent)
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  np.testing.assert_allclose(m["value_loss"], mean(vl), rtol=1e-5)


def test_constant_reduction_divides_by_the_generation_budget():
  """Dr. GRPO's constant: Σ m·x / (B · T_max) with T_max the fixed budget,
  not the batch's (trimmed) length."""
  x = np.arange(6, dtype=np.float32).reshape(2, 3)
  m = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
  got = losses.REDUCTIONS["constant"](x, m, 64)
  assert float(got) == pytest.approx((0 + 1 + 3) / (2 * 64))
  assert float(losses.REDUCTIONS["constant"](x, m)) == pytest.approx(4 / 6)


def _np_gspo(lp, old, ref, adv, mask, eps, eps_hi, beta):
  n = mask.sum(1)
  s = np.exp(((lp - old) * mask).sum(1) / n)
  per_seq = -np.minimum(s * adv, np.clip(s, 1 - eps, 1 + eps_hi) * adv)
  d = ref - lp
  kl_seq = ((np.exp(d) - d - 1) * mask).sum(1) / n
  return (per_seq + beta * kl_seq).mean(), s


@pytest.mark.parametrize("spread", [1e-4, 0.3])  # inside / past the clip.
def test_gspo_loss_is_numpy_sequence_ratio_and_its_gradient(spread):
  """GSPO: s_b = exp(mean_t (ℓ − ℓ_old)) per sequence, the clipped
  objective per sequence, mean over sequences; where unclipped, the
  gradient on ℓ_bt is −A_b s_b / (B |y_b|) for every token of b alike."""
  rng = np.random.default_rng(3)
  b, t = 4, 6
  mask = np.ones((b, t), np.float32)
  mask[1, 4:] = 0
  mask[3, 2:] = 0
  lp = rng.normal(size=(b, t)).astype(np.float32) * 0.5 - 2
  old = lp - rng.uniform(-spread, spread, size=(b, t)).astype(np.float32)
  ref = lp + 0.1
  adv = np.array([1.0, -0.5, 0.7, -1.2], np.float32)
  kw = dict(clip_eps=3e-4, clip_eps_high=4e-4, kl_beta=0.05)
  got, m = losses.gspo_loss(lp, old, ref, adv, mask > 0, **kw)
  want, s = _np_gspo(lp, old, ref, adv, mask, 3e-4, 4e-4, 0.05)
  assert float(got) == pytest.approx(want, rel=1e-4, abs=1e-7)
  assert float(m["ratio"]) == pytest.approx(
      (s[:, None] * mask).sum() / mask.sum(), rel=1e-5
  )
  g = jax.grad(
      lambda x: losses.gspo_loss(
          x, old, ref, adv, mask > 0, **{**kw, "kl_beta": 0.0}
      )[0]
  )(jnp.asarray(lp))
  inside = (s >= 1 - 3e-4) & (s <= 1 + 4e-4)
  pg = -adv * s / (b * mask.sum(1))
  want_g = np.where(inside[:, None], pg[:, None] * mask, 0.0)
  # Outside the clip the objective is flat where min picks the clipped term.
  picked_clip = ~inside & (
      np.minimum(s * adv, np.clip(s, 1 - 3e-4, 1 + 4e-4) * adv) != s * adv
  )
  want_g = np.where(
      picked_clip[:, None],
      0.0,
      np.where(inside[:, None], want_g, pg[:, None] * mask),
  )
  np.testing.assert_allclose(np.asarray(g), want_g, rtol=1e-4, atol=1e-7)
  if spread > 0.1:
    assert float(m["clip_low"] + m["clip_high"]) > 0
