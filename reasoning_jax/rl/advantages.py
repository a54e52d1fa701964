"""Advantage estimators: group-relative (GRPO family) and GAE (PPO).

Dimensions: P prompts, G samples per prompt, B = P*G sequences, T tokens.
Pure array maths: no Flax, no config objects.
"""

import jax
import jax.numpy as jnp


def _centre(rewards_pg):
  """(r − mean_g r, biased std_g r, all-equal group mask), float32."""
  assert rewards_pg.ndim == 2, rewards_pg.shape
  r = rewards_pg.astype(jnp.float32)
  std = r.std(axis=1, keepdims=True)
  return (
      r - r.mean(axis=1, keepdims=True),
      std,
      jnp.broadcast_to(std <= 0.0, r.shape),
  )


def grpo_advantages(rewards_pg, *, eps: float = 1e-6, std_floor: float = 0.1):
  """Group-normalised advantages (Shao et al. 2024, DeepSeekMath §4.1.2).

  A_pg = (r_pg − mean_g r_p·) / (std_g r_p· + eps), std biased (ddof=0);
  an all-equal group gets A = 0 exactly (never NaN).

  Returns (advantages [P, G] float32, keep [P, G] bool: all True).
  """
  del std_floor
  centred, std, degenerate = _centre(rewards_pg)
  adv = jnp.where(degenerate, 0.0, centred / (std + eps))
  return adv, jnp.ones_like(degenerate)


def grpo_skip_advantages(
    rewards_pg, *, eps: float = 1e-6, std_floor: float = 0.1
):
  """``grpo_advantages``, and an all-equal group is masked out of the loss
  (keep False on its rows) rather than trained on with A = 0."""
  adv, _ = grpo_advantages(rewards_pg, eps=eps, std_floor=std_floor)
  return adv, ~_centre(rewards_pg)[2]


def grpo_floor_advantages(
    rewards_pg, *, eps: float = 1e-6, std_floor: float = 0.1
):
  """A_pg = (r_pg − mean_g) / (max(std_g, std_floor) + eps): a group with
  a tiny spread is not blown up to unit scale."""
  centred, std, degenerate = _centre(rewards_pg)
  return (
      centred / (jnp.maximum(std, std_floor) + eps),
      jnp.ones_like(degenerate),
  )


def dr_grpo_advantages(
    rewards_pg, *, eps: float = 1e-6, std_floor: float = 0.1
):
  """A_pg = r_pg − mean_g r_p·, no division by the std (Dr. GRPO, Liu et al.
  2025: the std scaling favours groups that are almost all right or wrong)."""
  del eps, std_floor
  centred, _, degenerate = _centre(rewards_pg)
  return centred, jnp.ones_like(degenerate)


def rloo_advantages(rewards_pg, *, eps: float = 1e-6, std_floor: float = 0.1):
  """Leave-one-out baseline (Kool et al. 2019; RLOO, Ahmadian et al. 2024):
  each sample's baseline is the mean reward of the *other* G − 1 samples,

    A_pg = r_pg − (Σ_j r_pj − r_pg) / (G − 1) = G/(G − 1) · (r_pg − mean_g),

  an unbiased REINFORCE baseline (it does not depend on the sample itself);
  no division by the std."""
  del eps, std_floor
  assert rewards_pg.ndim == 2 and rewards_pg.shape[1] >= 2, rewards_pg.shape
  r = rewards_pg.astype(jnp.float32)
  g = r.shape[1]
  adv = r - (r.sum(axis=1, keepdims=True) - r) / (g - 1)
  return adv, jnp.ones(r.shape, bool)


def batch_norm_advantages(
    rewards_pg, *, eps: float = 1e-6, std_floor: float = 0.1
):
  """REINFORCE++ (Hu 2025): the reward normalised over the whole batch, not
  per group, A = (r − mean_B r) / (std_B r + eps) (0 when every reward of
  the batch is equal); the group plays no part."""
  del std_floor
  assert rewards_pg.ndim == 2, rewards_pg.shape
  r = rewards_pg.astype(jnp.float32)
  std = r.std()
  return (
      jnp.where(std > 0, (r - r.mean()) / (std + eps), 0.0),
      jnp.ones(r.shape, bool),
  )


# ``rl.advantage`` -> estimator: (rewards [P, G], eps=, std_floor=) ->
# (advantages [P, G], keep [P, G]).
GROUP_ADVANTAGES = {
    "grpo": grpo_advantages,
    "grpo_skip": grpo_skip_advantages,
    "grpo_floor": grpo_floor_advantages,
    "dr_grpo": dr_grpo_advantages,
    "rloo": rloo_advantages,
    "batch_norm": batch_norm_advantages,
}


def masked_mean_std(x, mask, *, axis=None):
  """Mean and biased standard deviation of ``x`` over the entries where
  ``mask`` is true, along ``axis`` (all axes by default; kept as size 1):

    μ = Σ m·x / max(Σ m, 1),  σ = sqrt(Σ m·(x − μ)² / max(Σ m, 1)).
  """
  assert x.shape == mask.shape, (x.shape, mask.shape)
  keep = axis is not None
  m = mask.astype(jnp.float32)
  n = jnp.maximum(m.sum(axis, keepdims=keep), 1.0)
  mean = (x * m).sum(axis, keepdims=keep) / n
  std = jnp.sqrt((((x - mean) * m) ** 2).sum(axis, keepdims=keep) / n)
  return mean, std


def process_advantages(
    step_rewards_bs,
    step_pos_bs,
    step_valid_bs,
    group_size: int,
    num_tokens: int,
    *,
    eps: float = 1e-6
):
  """Per-token advantages from step rewards (DeepSeekMath §4.1.3, process
  supervision with GRPO).

  Step rewards are normalised over all valid steps of a group,
  r̃ = (r − mean_g) / (std_g + eps) (0 for a group with no spread), and
  token t's advantage sums the normalised rewards of its own step and every
  later one: A_t = Σ_{k : pos_k ≥ t} r̃_k (tokens after the last boundary
  get 0). Shapes: [B, S] in (B = P·G, group-contiguous), ``step_pos`` the
  boundary's token index; returns [B, ``num_tokens``] float32.
  """
  b, s = step_rewards_bs.shape
  assert step_pos_bs.shape == step_valid_bs.shape == (b, s), (
      step_pos_bs.shape,
      step_valid_bs.shape,
      (b, s),
  )
  assert b % group_size == 0, (b, group_size)
  m = step_valid_bs.astype(jnp.float32).reshape(-1, group_size * s)
  r = step_rewards_bs.astype(jnp.float32).reshape(-1, group_size * s)
  mean, std = masked_mean_std(r, m, axis=1)
  norm = jnp.where(std > 0, (r - mean) / (std + eps), 0.0) * m
  norm = norm.reshape(b, s)
  t = jnp.arange(num_tokens)
  later = (step_pos_bs[:, None, :] >= t[None, :, None]) & step_valid_bs[
      :, None, :
  ]  # [B, T, S]: step k ends at or after token t.
  return jnp.sum(jnp.where(later, norm[:, None, :], 0.0), axis=2)


def gae_advantages(
    rewards_bt, values_bt, mask_bt, *, gamma: float = 1.0, lam: float = 0.95
):
  """Generalised advantage estimation (Schulman et al. 2016).

  δ_t = r_t + γ V_{t+1} − V_t,  A_t = δ_t + γλ A_{t+1},  R_t = A_t + V_t,
  with V after the last valid token taken as 0 (episode end). Padding
  (mask False) gets A = R = 0 and does not carry the recursion.

  Returns (advantages [B, T], returns [B, T]), float32, no gradient.
  """
  assert rewards_bt.shape == values_bt.shape == mask_bt.shape, (
      rewards_bt.shape,
      values_bt.shape,
      mask_bt.shape,
  )
  m = mask_bt.astype(jnp.float32)
  r = rewards_bt.astype(jnp.float32) * m
  v = jax.lax.stop_gradient(values_bt).astype(jnp.float32) * m
  v_next = jnp.concatenate([v[:, 1:], jnp.zeros_like(v[:, :1])], axis=1)
  m_next = jnp.concatenate([m[:, 1:], jnp.zeros_like(m[:, :1])], axis=1)
  delta = r + gamma * v_next * m_next - v

  def step(carry, x):
    d, mt, mn = x
    a = (d + gamma * lam * carry * mn) * mt
    return a, a

  _, adv = jax.lax.scan(
      step, jnp.zeros(r.shape[0]), (delta.T, m.T, m_next.T), reverse=True
  )
  adv = adv.T
  return adv, (adv + v) * m
