"""Outcome (ORM) and process (PRM) reward models: losses, scoring, saving.

Training them is ``train/verifier_fit.py``.

Both are ``ScalarModel(cfg, "reward_head")``: the policy's backbone plus a
per-token scalar head, initialised from the policy. The scalar at a token is
a logit; its sigmoid is the probability that the trace is (ORM, scored at
the last completion token) or still is (PRM, scored at each step boundary)
on the way to the right answer. Shapes: B traces, T slots, S steps.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.models import ScalarModel
from reasoning_jax.models.transformer import positions_from_valid
from reasoning_jax.verifiers.steps import boundary_mask


def bce_with_logits(logits, labels, mask):
  """Mean over ``mask`` of -[y log σ(z) + (1 - y) log(1 - σ(z))].

  Written as softplus(z) - y·z, stable for any z; ``labels`` may be soft
  (in [0, 1]). All of ``logits``, ``labels``, ``mask`` share one shape; an
  all-False mask gives 0.
  """
  assert logits.shape == labels.shape == mask.shape, (
      logits.shape,
      labels.shape,
      mask.shape,
  )
  w = mask.astype(jnp.float32)
  per = jax.nn.softplus(logits) - labels * logits
  return jnp.sum(per * w) / jnp.maximum(jnp.sum(w), 1.0)


def gather_steps(scores_bt, step_pos_bs, step_valid_bs):
  """Scores at the step boundaries: ``[B, T]`` -> ``[B, S]`` (0 off-mask)."""
  b, s = step_pos_bs.shape
  assert scores_bt.shape[0] == b and step_valid_bs.shape == (b, s)
  got = jnp.take_along_axis(scores_bt, step_pos_bs, axis=1)
  return jnp.where(step_valid_bs, got, 0.0)


def steps_from_mask(step_mask_bt, max_steps: int):
  """Boundary mask ``[B, T]`` -> (positions ``[B, S]``, valid ``[B, S]``).

  The i-th True slot of a row is step i; rows with fewer than S steps are
  padded (position 0, valid False), steps past S are dropped.
  """
  b, t = step_mask_bt.shape
  order = jnp.argsort(~step_mask_bt, axis=1, stable=True)[:, :max_steps]
  count = jnp.sum(step_mask_bt, axis=1, keepdims=True)
  valid = jnp.arange(max_steps)[None, :] < count
  if max_steps > t:  # more steps than slots: pad the positions.
    order = jnp.pad(order, ((0, 0), (0, max_steps - t)))
  return jnp.where(valid, order, 0).astype(jnp.int32), valid


def prm_loss(scores_bt, step_pos_bs, step_valid_bs, labels_bs):
  """Per-step BCE at the boundaries; every other token is ignored."""
  return bce_with_logits(
      gather_steps(scores_bt, step_pos_bs, step_valid_bs),
      labels_bs,
      step_valid_bs,
  )


def orm_loss(scores_bt, last_b, correct_b):
  """BCE of the score at each trace's last completion token."""
  z = jnp.take_along_axis(scores_bt, last_b[:, None], axis=1)[:, 0]
  return bce_with_logits(z, correct_b, jnp.ones_like(correct_b, bool))


def pairwise_loss(scores_b, correct_b, group_b):
  """Within-problem ranking loss (Bradley–Terry over a problem's samples).

  Mean over pairs (i, j) of one group (problem) with i correct and j wrong
  of softplus(−(z_i − z_j)) = −log σ(z_i − z_j). Only differences inside a
  group count, so a score that is the same for every sample of a problem
  (a difficulty detector) gets log 2 however well it sorts problems. 0 when
  no group has both classes.
  """
  assert scores_b.shape == correct_b.shape == group_b.shape, (
      scores_b.shape,
      correct_b.shape,
      group_b.shape,
  )
  same = group_b[:, None] == group_b[None, :]
  w = (same & (correct_b[:, None] > 0.5) & (correct_b[None, :] < 0.5)).astype(
      jnp.float32
  )
  d = scores_b[:, None] - scores_b[None, :]
  return jnp.sum(jax.nn.softplus(-d) * w) / jnp.maximum(jnp.sum(w), 1.0)


def soft_min(z_bs, mask_bs):
  """−log Σ exp(−z) over the valid steps: a smooth weakest-step logit
  (0 for a trace with no step)."""
  assert z_bs.shape == mask_bs.shape, (z_bs.shape, mask_bs.shape)
  out = -jax.nn.logsumexp(jnp.where(mask_bs, -z_bs, -jnp.inf), axis=1)
  return jnp.where(jnp.any(mask_bs, axis=1), out, 0.0)


def reward_model(model_cfg) -> ScalarModel:
  return ScalarModel(model_cfg, head_name="reward_head")


def token_scores(rm: ScalarModel, params, ids, valid):
  """Per-token logits ``[B, T]`` of the reward model."""
  return rm.apply({"params": params}, ids, positions_from_valid(valid), valid)


def score_steps(rm: ScalarModel, params, ids, valid, step_mask, max_steps: int):
  """P(step still on track) at each boundary: ``[B, S]``, and its mask."""
  pos, ok = steps_from_mask(step_mask, max_steps)
  z = gather_steps(token_scores(rm, params, ids, valid), pos, ok)
  return jnp.where(ok, jax.nn.sigmoid(z), 0.0), ok


def score_outcome(rm: ScalarModel, params, ids, valid, last):
  """P(trace correct) from the score at the last completion token: ``[B]``."""
  z = token_scores(rm, params, ids, valid)
  return jax.nn.sigmoid(jnp.take_along_axis(z, last[:, None], axis=1)[:, 0])


def chunked(fn, *arrays, size: int = 256):
  """``fn`` over row chunks of ``arrays`` (one compiled shape per chunk
  size, bounded memory), outputs concatenated as host arrays; a tuple
  output gives a tuple."""
  outs = [
      fn(*(a[i : i + size] for a in arrays))
      for i in range(0, max(len(arrays[0]), 1), size)
  ]
  if isinstance(outs[0], tuple):
    return tuple(
        np.concatenate([np.asarray(o[j]) for o in outs])
        for j in range(len(outs[0]))
    )
  return np.concatenate([np.asarray(o) for o in outs])


def make_scorers(rm: ScalarModel, max_steps: int):
  """Jitted ``steps(params, ids, valid, step_mask)`` and
  ``outcome(params, ids, valid, last)``."""
  return (
      jax.jit(functools.partial(score_steps, rm, max_steps=max_steps)),
      jax.jit(functools.partial(score_outcome, rm)),
  )


def abstract_params(model):
  """The shapes and dtypes of ``model``'s parameters (a ``ScalarModel``, or
  the ``CausalLM`` of a generative verifier), without computing them: what
  ``checkpoint.read_params`` restores saved parameters onto."""
  dummy = jnp.ones((1, 8), jnp.int32)
  return jax.eval_shape(
      lambda: nn.unbox(
          model.init(jax.random.PRNGKey(0), dummy, dummy, dummy > 0)["params"]
      )
  )


def make_process_reward(
    rm: ScalarModel,
    params,
    max_steps: int,
    *,
    think_id: int,
    close_id: int,
    newline_id: int,
):
  """Jitted PRM scoring of sampled completions, for process rewards in RL.

  ``fn(prompt [B, L], prompt_valid, tokens [B, T], mask) -> (scores [B, S],
  pos [B, S], valid [B, S])``: P(step on track) at each step boundary of
  each completion, the boundary's index into ``tokens``, and which of the S
  slots hold a step. Boundaries are found on device (``boundary_mask``).
  """

  @jax.jit
  def score(params, prompt, prompt_valid, tokens, mask):
    bnd = boundary_mask(tokens, mask, think_id, close_id, newline_id)
    ids, valid = encoding.join_completions(prompt, prompt_valid, tokens, mask)
    step_mask = jnp.concatenate([jnp.zeros_like(prompt_valid), bnd], 1)
    scores, ok = score_steps(rm, params, ids, valid, step_mask, max_steps)
    pos, _ = steps_from_mask(bnd, max_steps)
    return scores, pos, ok

  return functools.partial(score, params)
