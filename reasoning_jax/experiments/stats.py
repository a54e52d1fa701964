"""Uncertainty of held-out results: bootstrap intervals over test problems.

Every evaluation scores the same ``N`` test problems, so a stage's pass@1 is
a mean of ``N`` 0/1 verdicts and the change between two stages is a mean of
``N`` paired differences. Both get a percentile bootstrap interval
(Efron & Tibshirani 1993): resample the problems with replacement ``R``
times, take the statistic each time, report the 2.5th and 97.5th
percentiles. The resampling is seeded, so an interval is a pure function of
the verdicts.
"""

import numpy as np

RESAMPLES = 2000


def bootstrap_ci(
    values_n, *, level: float = 0.95, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float]:
  """Percentile bootstrap interval of ``mean(values_n)`` over problems.

  For r = 1..R: draw n indices i_1..i_n uniformly with replacement and
  m_r = (1/n) Σ_j values[i_j]; return the (1−level)/2 and (1+level)/2
  quantiles of {m_r}.
  """
  v = np.asarray(values_n, np.float64)
  assert v.ndim == 1 and v.size > 0, v.shape
  assert 0 < level < 1, level
  idx = np.random.default_rng(seed).integers(0, v.size, (resamples, v.size))
  means = v[idx].mean(1)
  lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
  return float(lo), float(hi)


def paired_delta(before_n, after_n) -> dict:
  """Per-problem comparison of two 0/1 vectors on the same problems:
  the change in the mean, its bootstrap 95% interval, problems fixed
  (0 → 1) and broken (1 → 0)."""
  before, after = np.asarray(before_n, bool), np.asarray(after_n, bool)
  assert before.shape == after.shape and before.ndim == 1, (
      before.shape,
      after.shape,
  )
  diff = after.astype(np.float64) - before
  return {
      "delta": float(diff.mean()),
      "ci95": list(bootstrap_ci(diff)),
      "fixed": int((after & ~before).sum()),
      "broken": int((before & ~after).sum()),
      "num_problems": int(before.size),
  }


def summarize(per: dict, subset=None) -> dict:
  """``{method: {N: {"acc", "ci"}}}``: mean accuracy over problems (or the
  boolean ``subset`` of them) with a bootstrap 95% interval."""
  out = {}
  for name, by_n in per.items():
    for n, x in by_n.items():
      x = np.asarray(x, np.float64)
      x = x if subset is None else x[subset]
      lo, hi = bootstrap_ci(x) if len(x) else (float("nan"),) * 2
      out.setdefault(name, {})[int(n)] = {
          "acc": float(np.mean(x)) if len(x) else float("nan"),
          "ci": [lo, hi],
      }
  return out


# Two-sided 95% quantiles of Student's t with df degrees of freedom.
_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    19: 2.093,
    29: 2.045,
}


def t_quantile(df: int) -> float:
  """t_{0.975, df} (the table's nearest df below; 1.96 past 30)."""
  if df >= 30:
    return 1.96
  return _T975[max(k for k in _T975 if k <= df)]


def across_seeds(values_s) -> dict:
  """Summary of one number per seed (the run is the unit): mean, the 95%
  t-interval of the mean, the worst (min) and best seed, n.

    mean ± t_{0.975, n−1} · sd / √n,  sd with ddof = 1.

  One seed gives no interval (NaN bounds)."""
  v = np.asarray(values_s, np.float64)
  assert v.ndim == 1 and v.size > 0, v.shape
  n, mean = v.size, float(v.mean())
  half = (
      float(t_quantile(n - 1) * v.std(ddof=1) / np.sqrt(n))
      if n > 1
      else float("nan")
  )
  return {
      "mean": mean,
      "ci95": [mean - half, mean + half],
      "min": float(v.min()),
      "max": float(v.max()),
      "n": int(n),
      "values": v.tolist(),
  }


def verdict(ci95, margin: float) -> str:
  """ "differs" when the interval excludes 0, "equivalent" when it lies
  inside ±margin (a conservative TOST: the 95% interval, not the 90%),
  else "inconclusive"."""
  lo, hi = ci95
  if not (np.isfinite(lo) and np.isfinite(hi)):
    return "inconclusive"
  if lo > 0 or hi < 0:
    return "differs"
  if -margin <= lo and hi <= margin:
    return "equivalent"
  return "inconclusive"
