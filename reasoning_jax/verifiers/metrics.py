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
    ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
    i = j + 1
  u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
  return float(u / (n_pos * n_neg))


def first_error(labels, mask) -> np.ndarray:
  """Index of the first step labelled 0 per trace, or -1 when none: ``[B]``."""
  labels, mask = np.asarray(labels), np.asarray(mask, bool)
  bad = mask & (labels < 0.5)
  return np.where(bad.any(1), bad.argmax(1), -1)


def first_error_f1(pred_scores, gold_labels, mask, threshold: float = 0.5
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
  return {"error_acc": err, "correct_acc": ok, "f1": f1,
          "traces_with_error": int(has.sum()), "traces": len(gold)}
