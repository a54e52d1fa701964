"""Generative verifier (Zhang et al. 2024): the decoder itself judges a step.

After step k of a trace the policy's own LM reads a query (``QUERY``, "=")
and its next-token distribution restricted to the two answer tokens "1"
(correct) and "0" gives the score: P(yes) = σ(ℓ_yes − ℓ_no). It is trained
by SFT on the same step labels as the PRM (cross-entropy on the answer token
over the two answers, i.e. BCE on ℓ_yes − ℓ_no), from the policy's
parameters, and scores ``[B, S]`` like ``reward_model.score_steps``.

Each (trace, step) pair is its own sequence: prompt ++ completion up to the
step's boundary ++ query, right-padded to ``P + N + len(query)`` slots.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from reasoning_jax.models.transformer import positions_from_valid
from reasoning_jax.verifiers.reward_model import bce_with_logits
from reasoning_jax.verifiers.reward_model import chunked

QUERY, YES, NO = "=", "1", "0"


@dataclasses.dataclass
class QueryBatch:
  """One row per valid (trace, step), B rows: ids / valid ``[B, T]``, the
  query's last slot ``at [B]``, labels ``[B]``, and which trace and step it
  is."""

  ids: np.ndarray
  valid: np.ndarray
  at: np.ndarray
  labels: np.ndarray
  trace: np.ndarray
  step: np.ndarray

  def __len__(self):
    return len(self.ids)


def answer_ids(tok) -> tuple[list[int], int, int]:
  """Query token ids and the yes / no token ids for ``tok``."""
  return tok.encode(QUERY), tok.encode(YES)[0], tok.encode(NO)[0]


def query_batch(sb, query_ids: list[int], pad_id: int = 0) -> QueryBatch:
  """``StepBatch`` -> one verification query per valid step."""
  b, t = sb.ids.shape
  q = len(query_ids)
  rows = np.argwhere(sb.step_valid)  # [R, 2] (trace, step)
  ids = np.full((len(rows), t + q), pad_id, np.int32)
  valid = np.zeros((len(rows), t + q), bool)
  at = np.zeros(len(rows), np.int32)
  for r, (i, k) in enumerate(rows):
    end = sb.step_pos[i, k] + 1  # through the boundary token.
    ids[r, :end], valid[r, :end] = sb.ids[i, :end], sb.valid[i, :end]
    ids[r, end : end + q], valid[r, end : end + q] = query_ids, True
    at[r] = end + q - 1
  return QueryBatch(
      ids,
      valid,
      at,
      sb.labels[rows[:, 0], rows[:, 1]],
      rows[:, 0].astype(np.int32),
      rows[:, 1].astype(np.int32),
  )


def yes_no_logit(model, params, ids, valid, at, yes_id: int, no_id: int):
  """ℓ_yes − ℓ_no at slot ``at`` of each row: ``[B]`` float32."""
  logits, _, _ = model.apply(
      {"params": params}, ids, positions_from_valid(valid), valid
  )
  last = jnp.take_along_axis(logits, at[:, None, None], axis=1)[:, 0]
  return last[:, yes_id] - last[:, no_id]


def loss(model, yes_id, no_id, params, batch):
  """BCE of σ(ℓ_yes − ℓ_no) against the step labels (soft allowed)."""
  z = yes_no_logit(
      model, params, batch["ids"], batch["valid"], batch["at"], yes_id, no_id
  )
  return bce_with_logits(z, batch["labels"], jnp.ones_like(z, bool))


def scores(
    model,
    params,
    qb: QueryBatch,
    num_traces: int,
    max_steps: int,
    yes_id: int,
    no_id: int,
) -> np.ndarray:
  """P(step correct) ``[num_traces, max_steps]`` (0 where no step)."""
  fn = jax.jit(
      functools.partial(yes_no_logit, model, yes_id=yes_id, no_id=no_id)
  )
  z = chunked(functools.partial(fn, params), qb.ids, qb.valid, qb.at)
  out = np.zeros((num_traces, max_steps), np.float32)
  out[qb.trace, qb.step] = 1 / (1 + np.exp(-z))
  return out
