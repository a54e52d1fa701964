"""Policy-gradient losses: clipped surrogates, k3 KL, value loss.

Dimensions: B sequences, T completion tokens. Every loss takes log-probs of
the sampled tokens and a mask, returns ``(loss, metrics)``, and stops
gradients through old and reference log-probs whatever the caller passes.

Reductions (how per-token terms become one number), chosen by name:
  "token_mean": Σ m·x / Σ m over the whole batch (DAPO).
  "seq_mean":   mean over sequences of each sequence's token mean
                (the original GRPO paper).
  "constant":   Σ m·x / (B · T_max) with T_max the generation budget
                (``max_tokens``), a denominator that depends on no length
                (Dr. GRPO).
"""

import jax
import jax.numpy as jnp


def kl_k3(logp_bt, ref_logp_bt):
  """Schulman's k3 estimator of KL(π‖π_ref) per token, always >= 0.

  k3 = exp(ℓ_ref − ℓ) − (ℓ_ref − ℓ) − 1, unbiased for samples from π.
  """
  assert logp_bt.shape == ref_logp_bt.shape, (logp_bt.shape, ref_logp_bt.shape)
  d = ref_logp_bt - logp_bt
  # expm1 keeps precision near d = 0; the clamp removes float rounding below 0.
  return jnp.maximum(jnp.expm1(d) - d, 0.0)


def _token_mean(x, m, max_tokens=None):
  del max_tokens
  return jnp.where(m > 0, x, 0.0).sum() / jnp.maximum(m.sum(), 1.0)


def _seq_mean(x, m, max_tokens=None):
  del max_tokens
  per_seq = jnp.where(m > 0, x, 0.0).sum(-1) / jnp.maximum(m.sum(-1), 1.0)
  has = (m.sum(-1) > 0).astype(x.dtype)
  return (per_seq * has).sum() / jnp.maximum(has.sum(), 1.0)


def _constant(x, m, max_tokens=None):
  """Σ m·x / (B · max_tokens); ``max_tokens`` None: the batch's T."""
  t = m.shape[1] if max_tokens is None else max_tokens
  return jnp.where(m > 0, x, 0.0).sum() / (m.shape[0] * t)


# Metrics reduced with the loss's own reduction; every other metric a loss
# returns is a token mean (``_token_mean``).
LOSS_METRICS = ("pg_loss",)
# ``ppo_loss``'s metric holding the part of its loss that is a token mean
# whatever the reduction (c_v·V − c_e·H, differentiable): a chunk of a batch
# weighs it by its token share (``learner_step.chunked_value_and_grad``).
TOKEN_MEAN_PART = "token_mean_part"


def chunk_share(reduction: str, chunk_mask_bt, mask_bt):
  """The share of a batch's reduction denominator that falls in one chunk.

  Every reduction is linear in the per-token terms with a denominator set by
  the whole batch's mask (Σ m; sequences with tokens; B), so a chunk's
  reduction times this share is exactly its part of the batch's. A loss
  with terms under two reductions (PPO's) weighs each by its own share.
  """
  m, mc = mask_bt.astype(jnp.float32), chunk_mask_bt.astype(jnp.float32)
  if reduction == "token_mean":
    return jnp.maximum(mc.sum(), 1.0) / jnp.maximum(m.sum(), 1.0)
  if reduction == "seq_mean":
    has, has_c = (x.sum(-1) > 0 for x in (m, mc))
    return jnp.maximum(has_c.sum(), 1) / jnp.maximum(has.sum(), 1)
  assert reduction == "constant", reduction
  return jnp.float32(mc.shape[0] / m.shape[0])


def _zero_pad(mask_bt, *xs):
  """Zeroes padded entries first, so garbage there (inf, NaN) can reach
  neither the loss nor its gradient."""
  return [jnp.where(mask_bt, x, 0.0) for x in xs]


REDUCTIONS = {
    "token_mean": _token_mean,
    "seq_mean": _seq_mean,
    "constant": _constant,
}


def clipped_surrogate(
    logp_bt,
    old_logp_bt,
    adv_bt,
    mask_bt,
    *,
    clip_eps: float = 0.2,
    clip_eps_high=None,
    reduction: str = "token_mean",
    max_tokens: int | None = None
):
  """PPO clipped objective (Schulman et al. 2017) as a loss to minimise.

  ρ = exp(ℓ − ℓ_old);  per token −min(ρA, clip(ρ, 1−ε_lo, 1+ε_hi)A).
  ``clip_eps_high`` (DAPO's clip-higher, Yu et al. 2025) defaults to ε_lo.

  Returns (loss, metrics) with clip fractions: ``clip_low`` (A<0, ρ<1−ε)
  and ``clip_high`` (A>0, ρ>1+ε) over valid tokens.
  """
  assert logp_bt.shape == old_logp_bt.shape == adv_bt.shape == mask_bt.shape
  eps_hi = clip_eps if clip_eps_high is None else clip_eps_high
  m = mask_bt.astype(jnp.float32)
  logp_bt, old_logp_bt, adv_bt = _zero_pad(
      mask_bt, logp_bt, old_logp_bt, adv_bt
  )
  ratio = jnp.exp(logp_bt - jax.lax.stop_gradient(old_logp_bt))
  adv = jax.lax.stop_gradient(adv_bt)
  unclipped = ratio * adv
  clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + eps_hi) * adv
  per_token = -jnp.minimum(unclipped, clipped)
  loss = REDUCTIONS[reduction](per_token, m, max_tokens)
  low = ((ratio < 1.0 - clip_eps) & (adv < 0)).astype(jnp.float32)
  high = ((ratio > 1.0 + eps_hi) & (adv > 0)).astype(jnp.float32)
  return loss, {
      "clip_low": _token_mean(low, m),
      "clip_high": _token_mean(high, m),
      "ratio": _token_mean(ratio, m),
  }


def grpo_loss(
    logp_bt,
    old_logp_bt,
    ref_logp_bt,
    adv,
    mask_bt,
    *,
    clip_eps: float = 0.2,
    kl_beta: float = 0.04,
    clip_eps_high=None,
    reduction: str = "token_mean",
    max_tokens: int | None = None
):
  """GRPO: clipped surrogate with per-sequence advantages + β·k3 KL.

  L = reduce_m[ −min(ρA_b, clip(ρ, 1−ε, 1+ε)A_b) + β·k3(ℓ, ℓ_ref) ]

  ``adv`` is [B] (one per sequence, broadcast over its tokens) or
  [B, T] (per token, e.g. with process rewards); the default reduction is
  the masked mean over all valid tokens of the batch.
  """
  assert adv.shape in (logp_bt.shape[:1], logp_bt.shape), (
      adv.shape,
      logp_bt.shape,
  )
  adv_bt = (
      adv if adv.ndim == 2 else jnp.broadcast_to(adv[:, None], logp_bt.shape)
  )
  return _policy_loss(
      logp_bt,
      old_logp_bt,
      ref_logp_bt,
      adv_bt,
      mask_bt,
      clip_eps=clip_eps,
      clip_eps_high=clip_eps_high,
      kl_beta=kl_beta,
      reduction=reduction,
      max_tokens=max_tokens,
  )


def _policy_loss(
    logp_bt,
    old_logp_bt,
    ref_logp_bt,
    adv_bt,
    mask_bt,
    *,
    clip_eps,
    clip_eps_high,
    kl_beta,
    reduction,
    max_tokens=None
):
  pg, metrics = clipped_surrogate(
      logp_bt,
      old_logp_bt,
      adv_bt,
      mask_bt,
      clip_eps=clip_eps,
      clip_eps_high=clip_eps_high,
      reduction=reduction,
      max_tokens=max_tokens,
  )
  return _with_kl(
      pg, metrics, logp_bt, ref_logp_bt, mask_bt, kl_beta, reduction, max_tokens
  )


def _with_kl(
    pg, metrics, logp_bt, ref_logp_bt, mask_bt, kl_beta, reduction, max_tokens
):
  """``pg`` + β · the reduced k3 KL to the reference; metrics ``pg_loss``
  and ``kl`` (a token mean) added."""
  m = mask_bt.astype(jnp.float32)
  logp_bt, ref_logp_bt = _zero_pad(mask_bt, logp_bt, ref_logp_bt)
  kl = kl_k3(logp_bt, jax.lax.stop_gradient(ref_logp_bt))
  kl_term = REDUCTIONS[reduction](kl, m, max_tokens)
  metrics.update(pg_loss=pg, kl=_token_mean(kl, m))
  return pg + kl_beta * kl_term, metrics


def sequence_clipped_surrogate(
    logp_bt,
    old_logp_bt,
    adv_b,
    mask_bt,
    *,
    clip_eps: float = 3e-4,
    clip_eps_high=4e-4,
    reduction: str = "seq_mean",
    max_tokens: int | None = None
):
  """GSPO's clipped objective (Zheng et al. 2025): one importance ratio per
  sequence, the geometric mean of its token ratios,

    s_b = exp((1/|y_b|) Σ_t m_bt (ℓ_bt − ℓ_old,bt)),
    per sequence −min(s_b A_b, clip(s_b, 1−ε_lo, 1+ε_hi) A_b),

  given to each of its tokens and reduced by ``reduction`` (``seq_mean``:
  the paper's mean over sequences). Its gradient is A_b s_b times the mean
  of the sequence's ∇ℓ: every token of a sequence is weighted alike.
  Clip fractions are token shares of clipped sequences.
  """
  assert logp_bt.shape == old_logp_bt.shape == mask_bt.shape
  assert adv_b.shape == logp_bt.shape[:1], (adv_b.shape, logp_bt.shape)
  eps_hi = clip_eps if clip_eps_high is None else clip_eps_high
  m = mask_bt.astype(jnp.float32)
  logp_bt, old_logp_bt = _zero_pad(mask_bt, logp_bt, old_logp_bt)
  log_ratio = logp_bt - jax.lax.stop_gradient(old_logp_bt)
  s = jnp.exp((log_ratio * m).sum(-1) / jnp.maximum(m.sum(-1), 1.0))
  adv = jax.lax.stop_gradient(adv_b)
  per_seq = -jnp.minimum(s * adv, jnp.clip(s, 1 - clip_eps, 1 + eps_hi) * adv)
  per_token = jnp.broadcast_to(per_seq[:, None], m.shape)
  loss = REDUCTIONS[reduction](per_token, m, max_tokens)
  low = ((s < 1.0 - clip_eps) & (adv < 0)).astype(jnp.float32)[:, None] * m
  high = ((s > 1.0 + eps_hi) & (adv > 0)).astype(jnp.float32)[:, None] * m
  return loss, {
      "clip_low": _token_mean(low, m),
      "clip_high": _token_mean(high, m),
      "ratio": _token_mean(jnp.broadcast_to(s[:, None], m.shape), m),
  }


def gspo_loss(
    logp_bt,
    old_logp_bt,
    ref_logp_bt,
    adv_b,
    mask_bt,
    *,
    clip_eps: float = 3e-4,
    kl_beta: float = 0.0,
    clip_eps_high=4e-4,
    reduction: str = "seq_mean",
    max_tokens: int | None = None
):
  """GSPO: ``sequence_clipped_surrogate`` on per-sequence advantages
  [B] + β·k3 KL (reduced like the surrogate)."""
  pg, metrics = sequence_clipped_surrogate(
      logp_bt,
      old_logp_bt,
      adv_b,
      mask_bt,
      clip_eps=clip_eps,
      clip_eps_high=clip_eps_high,
      reduction=reduction,
      max_tokens=max_tokens,
  )
  return _with_kl(
      pg, metrics, logp_bt, ref_logp_bt, mask_bt, kl_beta, reduction, max_tokens
  )


def value_loss(
    values_bt, old_values_bt, returns_bt, mask_bt, *, clip: float = 0.2
):
  """Clipped value loss (PPO2): ½·max((V−R)², (V_old + clip(V−V_old)−R)²)."""
  assert values_bt.shape == old_values_bt.shape == returns_bt.shape
  values_bt, old_values_bt, returns_bt = _zero_pad(
      mask_bt, values_bt, old_values_bt, returns_bt
  )
  old = jax.lax.stop_gradient(old_values_bt)
  ret = jax.lax.stop_gradient(returns_bt)
  v_clip = old + jnp.clip(values_bt - old, -clip, clip)
  per_token = 0.5 * jnp.maximum((values_bt - ret) ** 2, (v_clip - ret) ** 2)
  return _token_mean(per_token, mask_bt.astype(jnp.float32))


def ppo_loss(
    logp_bt,
    old_logp_bt,
    ref_logp_bt,
    adv_bt,
    mask_bt,
    values_bt,
    old_values_bt,
    returns_bt,
    entropy_bt=None,
    *,
    clip_eps: float = 0.2,
    clip_eps_high=None,
    kl_beta: float = 0.0,
    value_coef: float = 0.5,
    value_clip: float = 0.2,
    entropy_coef: float = 0.0,
    reduction: str = "token_mean",
    max_tokens: int | None = None
):
  """PPO: clipped surrogate on token-level (GAE) advantages [B, T]
  + value_coef · clipped value loss + β·k3 KL − entropy_coef · entropy.

  The surrogate and the KL are reduced by ``reduction``; the value loss and
  the entropy are token means whatever it is, and their part of the loss is
  in the metrics as ``TOKEN_MEAN_PART``.
  """
  assert adv_bt.shape == logp_bt.shape, (adv_bt.shape, logp_bt.shape)
  pol, metrics = _policy_loss(
      logp_bt,
      old_logp_bt,
      ref_logp_bt,
      adv_bt,
      mask_bt,
      clip_eps=clip_eps,
      clip_eps_high=clip_eps_high,
      kl_beta=kl_beta,
      reduction=reduction,
      max_tokens=max_tokens,
  )
  vl = value_loss(
      values_bt, old_values_bt, returns_bt, mask_bt, clip=value_clip
  )
  token_part = value_coef * vl
  loss = pol + token_part
  if entropy_bt is not None:
    ent = _token_mean(
        *_zero_pad(mask_bt, entropy_bt), mask_bt.astype(jnp.float32)
    )
    loss = loss - entropy_coef * ent
    token_part = token_part - entropy_coef * ent
    metrics["entropy"] = ent
  metrics["value_loss"] = vl
  metrics[TOKEN_MEAN_PART] = token_part
  return loss, metrics
