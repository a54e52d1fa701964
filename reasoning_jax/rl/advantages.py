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
