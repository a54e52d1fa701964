"""Test-time scaling metrics on the host: pass@k, maj@k, oracle.

Shapes: Q problems, N samples per problem. Answers are normalised strings
(``rewards.answers``); ``None`` is a missing answer and never wins a vote.
"""

import collections
import math

import numpy as np

from reasoning_jax.rewards import answers as answers_lib


def pass_at_k(n: int, c: int, k: int) -> float:
  """Unbiased pass@k (Chen et al. 2021): 1 − C(n−c, k) / C(n, k).

  The chance that k of the n samples, drawn without replacement, hold at
  least one of the c correct ones. Needs 0 <= c <= n and 1 <= k <= n.
  """
  if not (0 <= c <= n and 1 <= k <= n):
    raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
  if n - c < k:
    return 1.0
  return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def canonical(answer: str | None) -> str | None:
  """A vote key: the exact rational value when the answer parses as a number
  (``1/2`` and ``0.5`` are one key), else the normalised text."""
  if answer is None:
    return None
  value = answers_lib.parse_number(answer)
  return (
      str(value) if value is not None else answers_lib.normalize_answer(answer)
  )


def majority_vote(answers: list[str | None], weights=None) -> str | None:
  """The answer with the largest (weighted) vote; ties go to the answer seen
  first. Answers are grouped by ``canonical``; the first spelling of the
  winning group is returned; ``None`` answers do not vote."""
  w = np.ones(len(answers)) if weights is None else np.asarray(weights, float)
  assert len(w) == len(answers), (len(w), len(answers))
  total, first = collections.OrderedDict(), {}
  for a, x in zip(answers, w):
    key = canonical(a)
    if key is None:
      continue
    total[key] = total.get(key, 0.0) + float(x)
    first.setdefault(key, a)
  if not total:
    return None
  best = max(total.values())
  return first[next(k for k, v in total.items() if v == best)]
