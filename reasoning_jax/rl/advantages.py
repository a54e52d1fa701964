"""Advantage estimators: group-relative (GRPO family) and GAE (PPO).

Dimensions: P prompts, G samples per prompt, B = P*G sequences, T tokens.
Pure array maths: no Flax, no config objects.
"""

import jax
import jax.numpy as jnp

STD_MODES = ("zero", "floor", "skip", "none")


def grpo_advantages(rewards_pg, *, eps: float = 1e-6, std_mode: str = "zero",
                    std_floor: float = 0.1):
  """Group-normalised advantages (Shao et al. 2024, DeepSeekMath §4.1.2).

  A_pg = (r_pg − mean_g r_p·) / (std_g r_p· + eps), std biased (ddof=0).

  ``std_mode`` handles the spread of the group:
    "zero":  as above; an all-equal group gets A = 0 exactly (never NaN).
    "floor": divide by max(std, std_floor) instead.
    "skip":  as "zero", and the group is masked out of the loss.
    "none":  A = r − mean, no division (Dr. GRPO, Liu et al. 2025).

  Returns (advantages [P, G] float32, keep [P, G] bool — False on skipped
  groups).
  """
  assert rewards_pg.ndim == 2, rewards_pg.shape
  if std_mode not in STD_MODES:
    raise ValueError(f"std_mode must be one of {STD_MODES}, got {std_mode!r}")
  r = rewards_pg.astype(jnp.float32)
  centred = r - r.mean(axis=1, keepdims=True)
  std = r.std(axis=1, keepdims=True)
  degenerate = jnp.broadcast_to(std <= 0.0, r.shape)
  if std_mode == "none":
    adv = centred
  elif std_mode == "floor":
    adv = centred / (jnp.maximum(std, std_floor) + eps)
  else:
    adv = jnp.where(degenerate, 0.0, centred / (std + eps))
  keep = ~degenerate if std_mode == "skip" else jnp.ones_like(degenerate)
  return adv, keep


def process_advantages(step_rewards_bs, step_pos_bs, step_valid_bs,
                       group_size: int, num_tokens: int, *,
                       eps: float = 1e-6):
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
      step_pos_bs.shape, step_valid_bs.shape, (b, s))
  assert b % group_size == 0, (b, group_size)
  m = step_valid_bs.astype(jnp.float32).reshape(-1, group_size * s)
  r = step_rewards_bs.astype(jnp.float32).reshape(-1, group_size * s)
  n = jnp.maximum(m.sum(1, keepdims=True), 1.0)
  mean = (r * m).sum(1, keepdims=True) / n
  std = jnp.sqrt((((r - mean) * m) ** 2).sum(1, keepdims=True) / n)
  norm = jnp.where(std > 0, (r - mean) / (std + eps), 0.0) * m
  norm = norm.reshape(b, s)
  t = jnp.arange(num_tokens)
  later = (step_pos_bs[:, None, :] >= t[None, :, None]) & step_valid_bs[
      :, None, :]  # [B, T, S]: step k ends at or after token t.
  return jnp.sum(jnp.where(later, norm[:, None, :], 0.0), axis=2)


def gae_advantages(rewards_bt, values_bt, mask_bt, *, gamma: float = 1.0,
                   lam: float = 0.95):
  """Generalised advantage estimation (Schulman et al. 2016).

  δ_t = r_t + γ V_{t+1} − V_t,  A_t = δ_t + γλ A_{t+1},  R_t = A_t + V_t,
  with V after the last valid token taken as 0 (episode end). Padding
  (mask False) gets A = R = 0 and does not carry the recursion.

  Returns (advantages [B, T], returns [B, T]), float32, no gradient.
  """
  assert rewards_bt.shape == values_bt.shape == mask_bt.shape, (
      rewards_bt.shape, values_bt.shape, mask_bt.shape)
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

  _, adv = jax.lax.scan(step, jnp.zeros(r.shape[0]),
                        (delta.T, m.T, m_next.T), reverse=True)
  adv = adv.T
  return adv, (adv + v) * m
