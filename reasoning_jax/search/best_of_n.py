"""Parallel test-time scaling: self-consistency and verifier best-of-N.

N samples per problem come from one batched sampler pass (``n_max`` per
problem, prefix-shared); a method at budget N looks at the first N. Every
verifier shares one interface: ``(StepBatch) -> [B]`` scores in [0, 1] per
trace (the ORM's outcome probability, or a PRM's aggregated step scores), so
weighted voting and best-of-N take any of them. Shapes: Q problems, N
samples each, B = Q·N traces (problem-major).
"""

import functools

import numpy as np

from reasoning_jax.rewards import aggregate
from reasoning_jax.search import metrics
from reasoning_jax.verifiers import generative as gv
from reasoning_jax.verifiers import likelihood
from reasoning_jax.verifiers import reward_model


def orm_verifier(score_outcome, params):
  """The ORM as a verifier: P(correct) at each trace's last token."""
  return lambda sb: reward_model.chunked(
      functools.partial(score_outcome, params), sb.ids, sb.valid, sb.last
  )


def _per_batch(fn):
  """``fn(sb)``, computed once per batch object and reused while the same
  batch is asked for again (the verifiers of one model share one pass)."""
  cache = {}

  def cached(sb):
    if cache.get("sb") is not sb:
      cache.update(sb=sb, out=fn(sb))
    return cache["out"]

  return cached


def _cached_aggregations(step_scores, hows) -> dict:
  """One verifier per aggregation in ``hows`` over ``step_scores(sb) ->
  (scores [B, S], valid [B, S])``, computed once per batch and shared."""
  steps = _per_batch(step_scores)

  def one(how):
    return lambda sb: np.asarray(
        aggregate.aggregate_step_scores(*steps(sb), how)
    )

  return {how: one(how) for how in hows}


def prm_verifiers(score_steps, params, hows) -> dict:
  """A PRM as verifiers, one per aggregation in ``hows``."""
  return _cached_aggregations(
      lambda sb: reward_model.chunked(
          functools.partial(score_steps, params), sb.ids, sb.valid, sb.boundary
      ),
      hows,
  )


def generative_verifiers(model, params, tok, max_steps: int, hows) -> dict:
  """The generative verifier's P(yes) per step, one verifier per
  aggregation in ``hows``."""
  query, yes, no = gv.answer_ids(tok)
  return _cached_aggregations(
      lambda sb: (
          gv.scores(
              model,
              params,
              gv.query_batch(sb, query, tok.pad_id),
              len(sb),
              max_steps,
              yes,
              no,
          ),
          sb.step_valid[:, :max_steps],
      ),
      hows,
  )


def lm_verifiers(scorer, params, hows) -> dict:
  """The likelihood verifier (``verifiers.likelihood``) as verifiers:
  ``<how>`` aggregates the step spans and the tail (the answer), for
  best-of-N; ``steps_<how>`` the steps alone, for scoring partial
  solutions in search. ``scorer``: ``likelihood.make_scorer``'s function."""
  spans = _per_batch(
      lambda sb: reward_model.chunked(
          functools.partial(scorer, params), sb.ids, sb.valid, sb.boundary
      )
  )
  out = _cached_aggregations(lambda sb: likelihood.with_tail(*spans(sb)), hows)
  steps_only = _cached_aggregations(lambda sb: spans(sb)[:2], hows)
  out.update({f"steps_{how}": fn for how, fn in steps_only.items()})
  return out


def best_of_n(scores_qn, correct_qn, n: int) -> np.ndarray:
  """[Q] 0/1: is the highest-scored of the first ``n`` samples correct?
  Ties go to the earliest sample."""
  assert scores_qn.shape == correct_qn.shape, (
      scores_qn.shape,
      correct_qn.shape,
  )
  pick = np.argmax(scores_qn[:, :n], axis=1)
  return correct_qn[np.arange(len(pick)), pick].astype(np.float64)


def vote(answers_qn, correct_qn, n: int, weights_qn=None) -> np.ndarray:
  """[Q] 0/1: is the (weighted) majority answer of the first ``n`` samples
  correct? Judged by the first sample that gave it (``correct_qn``, the
  task's verifier), so tasks with many right answers (countdown) count a
  valid winner as right; 0 when no sample has an answer."""
  out = []
  for q in range(len(answers_qn)):
    row = list(answers_qn[q][:n])
    w = None if weights_qn is None else weights_qn[q][:n]
    key = metrics.canonical(metrics.majority_vote(row, w))
    hit = [
        i
        for i, a in enumerate(row)
        if key is not None and metrics.canonical(a) == key
    ]
    out.append(float(correct_qn[q][hit[0]]) if hit else 0.0)
  return np.asarray(out)


def per_problem(
    answers_qn, correct_qn, verifier_scores: dict, ns, *, vote_weights=()
) -> dict:
  """``{method: {N: [Q] per-problem accuracy}}`` for the parallel methods.

  ``majority`` (self-consistency), ``weighted_<verifier>`` for each name
  in ``vote_weights`` (answer-weighted voting: an answer's votes are the sum
  of its samples' verifier scores, score × count), ``bon_<verifier>`` for
  each verifier,
  ``pass@N`` (unbiased, from all n samples) and ``oracle`` 1 − (1 − p̂₁)^N
  with p̂₁ each problem's share of correct samples.
  """
  n_max = correct_qn.shape[1]
  c = correct_qn.sum(1).astype(int)
  p1 = correct_qn.mean(1)
  out = {}
  for n in ns:
    out.setdefault("majority", {})[n] = vote(answers_qn, correct_qn, n)
    for name in vote_weights:
      out.setdefault(f"weighted_{name}", {})[n] = vote(
          answers_qn, correct_qn, n, verifier_scores[name]
      )
    for name, s in verifier_scores.items():
      out.setdefault(f"bon_{name}", {})[n] = best_of_n(s, correct_qn, n)
    out.setdefault("pass@N", {})[n] = np.asarray(
        [metrics.pass_at_k(n_max, int(ci), n) for ci in c]
    )
    out.setdefault("oracle", {})[n] = 1.0 - (1.0 - p1) ** n
  return out
