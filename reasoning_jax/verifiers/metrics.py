"""Verifier metrics on the host: AUROC, accuracy, first-error F1 (NumPy)."""

import numpy as np


def auroc(scores, labels) -> float:
  """P(score of a random positive > that of a random negative), ties ½.

  The Mann-Whitney U statistic over average ranks. NaN when ``labels`` has
  a single class.
  """
  s = np.asarray(scores, np.float64).ravel()
  y = np.asarray(labels).ravel().astype(bool)
  n_pos, n_neg = int(y.sum()), int((~y).sum())
  if n_pos == 0 or n_neg == 0:
    return float("nan")
  order = np.argsort(s, kind="stable")
  ranks = np.empty(len(s), np.float64)
  sorted_s = s[order]
  i = 0
  while i < len(s):  # average rank over ties.
    j = i
    while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
      j += 1
    ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
    i = j + 1
  u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
  return float(u / (n_pos * n_neg))


def first_error(labels, mask) -> np.ndarray:
  """Index of the first step labelled 0 per trace, or -1 when none: ``[B]``."""
  labels, mask = np.asarray(labels), np.asarray(mask, bool)
  bad = mask & (labels < 0.5)
  return np.where(bad.any(1), bad.argmax(1), -1)


def first_error_f1(
    pred_scores, gold_labels, mask, threshold: float = 0.5
) -> dict:
  """ProcessBench-style first-error identification.

  The predicted first error is the first step whose score is below
  ``threshold`` (-1: no error). ``error_acc`` is the share of traces with
  an error whose first error is located exactly; ``correct_acc`` the share
  of error-free traces predicted error-free; ``f1`` their harmonic mean.
  """
  pred = first_error(np.asarray(pred_scores) >= threshold, mask)
  gold = first_error(gold_labels, mask)
  has = gold >= 0
  err = float((pred[has] == gold[has]).mean()) if has.any() else float("nan")
  ok = float((pred[~has] == -1).mean()) if (~has).any() else float("nan")
  f1 = 2 * err * ok / (err + ok) if err + ok > 0 else 0.0
  return {
      "error_acc": err,
      "correct_acc": ok,
      "f1": f1,
      "traces_with_error": int(has.sum()),
      "traces": len(gold),
  }


def within_group_auroc(scores, labels, groups) -> tuple[float, int]:
  """AUROC inside each group (a problem's own samples or steps), averaged.

  What best-of-N needs: a verifier that only knows which problems are hard
  ranks every sample of a problem alike and scores 0.5 here, however high
  its pooled AUROC. Groups with a single class are skipped. Returns
  ``(mean AUROC, groups counted)``; NaN and 0 when none counts.
  """
  s, y = np.asarray(scores, np.float64).ravel(), np.asarray(labels).ravel()
  g = np.asarray(groups).ravel()
  assert s.shape == y.shape == g.shape, (s.shape, y.shape, g.shape)
  vals = []
  for key in np.unique(g):
    m = g == key
    a = auroc(s[m], y[m] >= 0.5)
    if not np.isnan(a):
      vals.append(a)
  return (float(np.mean(vals)) if vals else float("nan")), len(vals)


def distinct_rows(texts_qn) -> list[list[int]]:
  """Per problem, the index of the first sample of each distinct text."""
  out = []
  for row in texts_qn:
    seen, keep = set(), []
    for i, t in enumerate(row):
      key = " ".join(str(t).split())
      if key not in seen:
        seen.add(key)
        keep.append(i)
    out.append(keep)
  return out


def within_problem_auroc(
    scores_qn, correct_qn, texts_qn=None
) -> tuple[float, int]:
  """Outcome AUROC among each problem's samples (``[Q, N]``), averaged over
  problems with right and wrong samples; with ``texts_qn``, over its
  distinct completion texts only (a repeated sample counts once)."""
  s, c = np.asarray(scores_qn, np.float64), np.asarray(correct_qn)
  assert s.shape == c.shape and s.ndim == 2, (s.shape, c.shape)
  keep = (
      distinct_rows(texts_qn)
      if texts_qn is not None
      else [list(range(s.shape[1]))] * len(s)
  )
  groups = np.concatenate([np.full(len(k), q) for q, k in enumerate(keep)])
  flat = lambda x: np.concatenate([x[q, k] for q, k in enumerate(keep)])
  return within_group_auroc(flat(s), flat(c), groups)


def top_bottom(scores_qn, correct_qn, n: int) -> tuple[np.ndarray, np.ndarray]:
  """``[Q]`` correctness of the highest- and the lowest-scored of the first
  ``n`` samples (ties: earliest). Best-of-N that is no better than
  worst-of-N has not learned to rank a problem's samples."""
  s, c = np.asarray(scores_qn)[:, :n], np.asarray(correct_qn)[:, :n]
  rows = np.arange(len(s))
  return (
      c[rows, np.argmax(s, 1)].astype(np.float64),
      c[rows, np.argmin(s, 1)].astype(np.float64),
  )


def random_distinct(correct_qn, texts_qn, n: int) -> np.ndarray:
  """``[Q]`` expected correctness of a uniform pick among the distinct
  texts of the first ``n`` samples: the score of a verifier that cannot
  tell a problem's completions apart but does not favour repeats."""
  c = np.asarray(correct_qn)
  keep = distinct_rows([row[:n] for row in texts_qn])
  return np.asarray([c[q, k].mean() for q, k in enumerate(keep)], np.float64)
