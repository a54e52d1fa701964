"""Parallel test-time scaling: self-consistency and verifier best-of-N.

N samples per problem come from one batched sampler pass (``n_max`` per
problem, prefix-shared); a method at budget N looks at the first N. Every
verifier shares one interface: ``(StepBatch) -> [B]`` scores in [0, 1] per
trace (the ORM's outcome probability, or a PRM's aggregated step scores), so
weighted voting and best-of-N take any of them. Shapes: Q problems, n
samples each, B = Q·n traces (problem-major).
"""

import functools

import numpy as np

from reasoning_jax.rewards import answers as answers_lib
from reasoning_jax.search import metrics


def orm_verifier(score_outcome, params):
  """The ORM as a verifier: P(correct) at each trace's last token."""
  from reasoning_jax.verifiers import reward_model  # pylint: disable=g-import-not-at-top
  return lambda sb: reward_model.chunked(
      functools.partial(score_outcome, params), sb.ids, sb.valid, sb.last)


def prm_verifiers(score_steps, params, hows) -> dict:
  """A PRM as verifiers, one per aggregation in ``hows``: its step scores
  (computed once per batch and cached) aggregated with each."""
  from reasoning_jax.verifiers import reward_model  # pylint: disable=g-import-not-at-top
  cache = {}

  def steps(sb):
    if cache.get("sb") is not sb:
      s, ok = reward_model.chunked(functools.partial(score_steps, params),
                                   sb.ids, sb.valid, sb.boundary)
      cache.update(sb=sb, s=s, ok=ok)
    return cache["s"], cache["ok"]

  def one(how):
    return lambda sb: np.asarray(reward_model.aggregate_step_scores(
        *steps(sb), how))
  return {how: one(how) for how in hows}


def generative_verifier(model, params, tok, max_steps: int,
                        how: str = "min"):
  """The generative verifier's P(yes) per step, aggregated with ``how``."""
  from reasoning_jax.verifiers import generative as gv  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import reward_model  # pylint: disable=g-import-not-at-top
  query, yes, no = gv.answer_ids(tok)

  def fn(sb):
    s = gv.scores(model, params, gv.query_batch(sb, query, tok.pad_id),
                  len(sb), max_steps, yes, no)
    return np.asarray(reward_model.aggregate_step_scores(
        s, sb.step_valid[:, :max_steps], how))
  return fn


def best_of_n(scores_qn, correct_qn, n: int) -> np.ndarray:
  """[Q] 0/1: is the highest-scored of the first ``n`` samples correct?
  Ties go to the earliest sample."""
  assert scores_qn.shape == correct_qn.shape, (scores_qn.shape,
                                               correct_qn.shape)
  pick = np.argmax(scores_qn[:, :n], axis=1)
  return correct_qn[np.arange(len(pick)), pick].astype(np.float64)


def vote(answers_qn, gold_q, n: int, weights_qn=None) -> np.ndarray:
  """[Q] 0/1: does the (weighted) majority of the first ``n`` answers match
  the gold answer?"""
  out = []
  for q, gold in enumerate(gold_q):
    w = None if weights_qn is None else weights_qn[q][:n]
    pred = metrics.majority_vote(list(answers_qn[q][:n]), w)
    out.append(float(answers_lib.answers_match(pred, gold)))
  return np.asarray(out)


def scaling_table(answers_qn, correct_qn, gold_q, verifier_scores: dict,
                  ns, *, vote_weights: str | None = None) -> dict:
  """Accuracy per method and N, each with a bootstrap 95% interval.

  Methods: ``majority`` (self-consistency), ``weighted_majority`` (votes
  weighted by ``verifier_scores[vote_weights]``), ``bon_<verifier>`` for
  each verifier, ``pass@N`` (unbiased, from all n samples) and ``oracle``
  1 − (1 − p̂₁)^N with p̂₁ each problem's share of correct samples.
  """
  q, n_max = correct_qn.shape
  c = correct_qn.sum(1).astype(int)
  p1 = correct_qn.mean(1)
  out = {}

  def add(name, n, per_problem):
    lo, hi = metrics.bootstrap_ci(per_problem)
    out.setdefault(name, {})[int(n)] = {
        "acc": float(np.mean(per_problem)), "ci": [lo, hi]}

  for n in ns:
    add("majority", n, vote(answers_qn, gold_q, n))
    if vote_weights:
      add("weighted_majority", n, vote(answers_qn, gold_q, n,
                                       verifier_scores[vote_weights]))
    for name, s in verifier_scores.items():
      add(f"bon_{name}", n, best_of_n(s, correct_qn, n))
    add("pass@N", n, np.asarray([metrics.pass_at_k(n_max, int(ci), n)
                                 for ci in c]))
    add("oracle", n, 1.0 - (1.0 - p1) ** n)
  del q
  return out
