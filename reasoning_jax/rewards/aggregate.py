"""Step scores ``[B, S]`` -> one score per trace: how a PRM's (or any step
verifier's) probabilities become a ranking for best-of-N, a search value or
a sequence-level process reward. Pure jnp; padded steps (``mask`` False)
are ignored and a trace with no step scores 0.
"""

import jax.numpy as jnp


def _valid(scores_bs, mask_bs):
  assert scores_bs.shape == mask_bs.shape, (scores_bs.shape, mask_bs.shape)
  m = mask_bs.astype(bool)
  return m, jnp.sum(m, axis=1)


def step_min(scores_bs, mask_bs):
  """The weakest step: min_i p_i."""
  m, n = _valid(scores_bs, mask_bs)
  out = jnp.min(jnp.where(m, scores_bs, jnp.inf), axis=1)
  return jnp.where(n > 0, out, 0.0)


def step_prod(scores_bs, mask_bs):
  """Π_i p_i, summed in log space (log p clipped at 1e-30)."""
  m, n = _valid(scores_bs, mask_bs)
  logp = jnp.log(jnp.maximum(scores_bs, 1e-30))
  out = jnp.exp(jnp.sum(jnp.where(m, logp, 0.0), axis=1))
  return jnp.where(n > 0, out, 0.0)


def step_mean(scores_bs, mask_bs):
  """(1/n) Σ_i p_i over the n valid steps."""
  m, n = _valid(scores_bs, mask_bs)
  out = jnp.sum(jnp.where(m, scores_bs, 0.0), axis=1) / jnp.maximum(n, 1)
  return jnp.where(n > 0, out, 0.0)


def step_last(scores_bs, mask_bs):
  """The last valid step's score."""
  m, n = _valid(scores_bs, mask_bs)
  last = m.shape[1] - 1 - jnp.argmax(m[:, ::-1], axis=1)  # last True.
  out = jnp.take_along_axis(scores_bs, last[:, None], axis=1)[:, 0]
  return jnp.where(n > 0, out, 0.0)


STEP_AGGREGATES = {
    "min": step_min,
    "prod": step_prod,
    "mean": step_mean,
    "last": step_last,
}
HOW = tuple(STEP_AGGREGATES)


def aggregate_step_scores(scores_bs, mask_bs, how: str):
  """``STEP_AGGREGATES[how](scores [B, S] in [0, 1], mask [B, S])`` -> [B]."""
  if how not in STEP_AGGREGATES:
    raise ValueError(f"how must be one of {HOW}, got {how!r}")
  return STEP_AGGREGATES[how](scores_bs, mask_bs)
