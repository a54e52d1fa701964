"""A language model as process verifier: how likely it finds each step.

The verifier is a causal LM trained on a dense stream of verified (gold)
solutions of the task (``verify``'s ``lmv`` stage: SFT on many times the
policy's cold start). For a trace it scores step s by the probability of the
step's least likely token,

    score_s = exp( min_{t in step s} log p_LM(x_t | x_<t) ),

so one wrong number in a step (an arithmetic slip the verifier would not
make) pulls that step's score down, while the prompt and earlier steps
condition it. A trace's tail after the last step (``</think>`` and the
boxed answer) is one more span, so an answer that does not follow from the
steps is caught too. Scores are in (0, 1] and aggregate like PRM scores
(min, prod, mean, last).

Why not a scalar head: a head trained with BCE on sampled traces (ORM, PRM)
must learn the task's arithmetic from one label per step; on ``arith`` it
learned which problems are hard (pooled AUROC 0.74) and not which sample of
a problem is right (within-problem AUROC ≈ 0.5). The LM learns the
arithmetic from a dense next-token loss on every gold token, and checking a
step is then reading off its own prediction (README, "Verifiers").

Shapes: B traces, T slots (L prompt + the completion), S steps.
"""

import functools

import jax
import jax.numpy as jnp

from reasoning_jax.models.transformer import positions_from_valid


def token_logprobs(model, params, ids_bt, valid_bt):
  """``[B, T]`` log p(x_t | x_<t) under ``model`` (0 at slot 0)."""
  logits, _, _ = model.apply(
      {"params": params}, ids_bt, positions_from_valid(valid_bt), valid_bt
  )
  logp = jax.nn.log_softmax(logits[:, :-1], -1)
  got = jnp.take_along_axis(logp, ids_bt[:, 1:, None], -1)[..., 0]
  return jnp.pad(got, ((0, 0), (1, 0)))


def span_min(logp_bt, valid_bt, boundary_bt, prompt_len: int, max_steps: int):
  """Least log-prob in each step span and in the tail.

  A step's span is its completion tokens after the previous boundary up to
  and including its own boundary token (``steps.StepBatch.boundary``); the
  tail is every valid completion token after the last boundary. Returns
  ``(steps [B, S], step_valid [B, S], tail [B], tail_valid [B])``; invalid
  entries are 0.
  """
  b, t = logp_bt.shape
  assert valid_bt.shape == boundary_bt.shape == (b, t), (
      valid_bt.shape,
      boundary_bt.shape,
      (b, t),
  )
  comp = valid_bt & (jnp.arange(t) >= prompt_len)[None]
  bnd = boundary_bt & comp
  # Span index of each token: boundaries strictly before it.
  seg = jnp.cumsum(bnd, axis=1) - bnd.astype(jnp.int32)
  n_steps = jnp.sum(bnd, axis=1)  # [B]
  span = jnp.arange(max_steps + 1)  # S steps, then the tail (index S).
  # The tail follows the last boundary; steps past S belong to no span.
  seg = jnp.where(
      seg >= n_steps[:, None],
      max_steps,
      jnp.where(seg < max_steps, seg, max_steps + 1),
  )
  member = comp[:, :, None] & (seg[:, :, None] == span[None, None])
  mins = jnp.min(jnp.where(member, logp_bt[:, :, None], jnp.inf), axis=1)
  has = jnp.any(member, axis=1)  # [B, S + 1]
  mins = jnp.where(has, mins, 0.0)
  step_valid = (span[None, :max_steps] < n_steps[:, None]) & has[:, :max_steps]
  return (
      mins[:, :max_steps],
      step_valid,
      mins[:, max_steps],
      has[:, max_steps],
  )


def score_steps(
    model, params, ids, valid, boundary, *, prompt_len: int, max_steps: int
):
  """``(step scores [B, S] in (0, 1], valid [B, S], tail score [B],
  tail valid [B])``: exp of each span's least token log-prob."""
  lp = token_logprobs(model, params, ids, valid)
  steps, ok, tail, tail_ok = span_min(
      lp, valid, boundary, prompt_len, max_steps
  )
  return (
      jnp.where(ok, jnp.exp(steps), 0.0),
      ok,
      jnp.where(tail_ok, jnp.exp(tail), 0.0),
      tail_ok,
  )


def with_tail(steps_bs, valid_bs, tail_b, tail_valid_b):
  """Steps and the tail as one ``[B, S + 1]`` score array and its mask, for
  outcome aggregation (the tail counts as the last span)."""
  return (
      jnp.concatenate([steps_bs, tail_b[:, None]], 1),
      jnp.concatenate([valid_bs, tail_valid_b[:, None]], 1),
  )


def make_scorer(model, prompt_len: int, max_steps: int):
  """Jitted ``fn(params, ids, valid, boundary)`` of ``score_steps``."""
  return jax.jit(
      functools.partial(
          score_steps, model, prompt_len=prompt_len, max_steps=max_steps
      )
  )
