"""Compute-optimal test-time scaling (Snell et al. 2024), on the host.

Per-problem difficulty is estimated without the answer key from the first
m samples: the share of them that agree with their majority answer
(``agreement``; 1 = all agree = easy). Problems are binned by that share,
and per bin the (method, N) of highest accuracy within a FLOPs budget is
chosen. The choice is cross-fitted: made on one half of the problems and
scored on the other, both ways, so the reported accuracy is not the
selection's own in-sample maximum. The baseline is the single best
(method, N) within the same budget, chosen the same way without bins.

Inputs: ``per[method][N]`` [Q] per-problem accuracy (``best_of_n.
per_problem`` and the search methods), ``flops[method][N]`` per problem.
"""

import numpy as np

from reasoning_jax.search import metrics

ORACLES = ("pass@N", "oracle")  # need the answer key: never chosen.


def agreement(answers_qn, m: int) -> np.ndarray:
  """[Q] share of the first ``m`` answers in the majority (canonical)
  group; a missing answer counts against it."""
  out = []
  for row in answers_qn:
    keys = [metrics.canonical(a) for a in list(row)[:m]]
    counts = {}
    for k in keys:
      if k is not None:
        counts[k] = counts.get(k, 0) + 1
    out.append(max(counts.values(), default=0) / len(keys))
  return np.asarray(out)


def levels(x) -> np.ndarray:
  """[Q] bin index per problem: 0 for the largest value of ``x`` (the
  easiest), then one bin per distinct value, descending."""
  x = np.asarray(x)
  return np.searchsorted(-np.unique(x)[::-1], -x)


def choose(per, cost, mask, budget: float):
  """The (method, N) of highest mean accuracy over ``mask`` problems among
  those with ``cost[method][N] <= budget``; ties to the cheaper, then the
  first listed. None if nothing fits or ``mask`` is empty."""
  best, key = None, None
  if not np.any(mask):
    return None
  for name, by_n in per.items():
    if name in ORACLES:
      continue
    for n, x in by_n.items():
      c = cost[name][n]
      if c > budget:
        continue
      k = (float(np.mean(np.asarray(x)[mask])), -c)
      if key is None or k > key:
        best, key = (name, n), k
  return best


def curve(
    per,
    flops,
    bins_q,
    budgets,
    *,
    estimate_samples: int,
    sample_flops: float,
    reused=None,
) -> list[dict]:
  """Compute-optimal vs best-fixed accuracy at each FLOPs budget.

  The binned strategy pays for its difficulty estimate: ``estimate_samples``
  samples of ``sample_flops`` each, less the ones a method reuses
  (``reused[method](N)``; default N, as the parallel methods reuse their
  first samples). Where the budget cannot pay for the estimate under any
  affordable method, the strategy does not estimate and plays the fixed
  choice. Halves are even / odd problem indices; the per-bin choice falls
  back to the whole half's choice where its bin is empty there.
  """
  q = len(bins_q)
  halves = [np.arange(q) % 2 == 0, np.arange(q) % 2 == 1]
  reused = reused or {}
  cost_opt = {
      m: {
          n: (
              f
              + sample_flops
              * max(0, estimate_samples - reused.get(m, lambda k: k)(n))
          )
          for n, f in by_n.items()
      }
      for m, by_n in flops.items()
  }
  rows = []
  for budget in budgets:
    got_opt, got_fix = np.zeros(q), np.zeros(q)
    picks, fixed = {}, []
    ok = True
    for sel, ev in (halves, halves[::-1]):
      f = choose(per, flops, sel, budget)
      if f is None:
        ok = False
        break
      got_fix[ev] = np.asarray(per[f[0]][f[1]])[ev]
      fixed.append(f"{f[0]}@{f[1]}")
      g = choose(per, cost_opt, sel, budget)
      for b in np.unique(bins_q):
        in_b = bins_q == b
        c = (choose(per, cost_opt, sel & in_b, budget) or g) if g else f
        got_opt[ev & in_b] = np.asarray(per[c[0]][c[1]])[ev & in_b]
        picks.setdefault(int(b), []).append(f"{c[0]}@{c[1]}")
    if ok:
      rows.append({
          "budget": float(budget),
          "compute_optimal": float(got_opt.mean()),
          "best_fixed": float(got_fix.mean()),
          "fixed_choice": fixed,
          "choices": picks,
      })
  return rows
