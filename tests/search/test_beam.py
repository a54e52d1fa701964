"""Beam search against exhaustive search on a tiny scripted policy."""

import itertools
import math

import numpy as np

from reasoning_jax.search.beam import beam_search
from reasoning_jax.search.beam import tree_of_thoughts

# A depth-3 tree: each node has children "x" and "y"; a path ends with "$"
# after 3 steps. Scores are scripted per (problem, text) from a seeded RNG.
STEPS = ("x\n", "y\n")


def _expand(items, k):
  return [
      [s + ("$" if t.count("\n") == 2 else "") for s in STEPS][:k]
      for _, t in items
  ]


def _scorer(seed):
  rng = np.random.default_rng(seed)
  table = {}

  def score(items):
    out = []
    for item in items:
      if item not in table:
        table[item] = float(rng.uniform(0.05, 1.0))
      out.append(table[item])
    return np.asarray(out)

  return score, table


def _exhaustive(q, table_score):
  best = None
  for path in itertools.product(STEPS, repeat=3):
    text, total = "", 0.0
    for i, s in enumerate(path):
      text += s + ("$" if i == 2 else "")
      total += math.log(table_score([(q, text)])[0])
    if best is None or total > best[1]:
      best = (text, total)
  return best


def test_full_width_beam_search_equals_exhaustive_search():
  for seed in range(5):
    score, _ = _scorer(seed)
    best, scored = beam_search(
        _expand,
        score,
        3,
        width=8,
        expand_k=2,
        max_steps=5,
        is_done=lambda t: t.endswith("$"),
    )
    assert scored == 3 * (2 + 4 + 8)  # every node of every tree.
    for q in range(3):
      text, total = _exhaustive(q, score)
      assert best[q].text == text and best[q].done
      assert math.isclose(best[q].score, total)


def test_width_one_is_greedy_and_can_miss_the_best_path():
  """Hand-worked trap: x scores 0.9 then its children 0.1; y 0.5 then 0.9."""
  table = {
      "x\n": 0.9,
      "y\n": 0.5,
      "x\nx\n": 0.1,
      "x\ny\n": 0.1,
      "y\nx\n": 0.9,
      "y\ny\n": 0.2,
  }
  expand = lambda items, k: [["x\n", "y\n"] for _ in items]
  score = lambda items: np.asarray([table[t] for _, t in items])
  done = lambda t: t.count("\n") == 2
  greedy, n1 = beam_search(
      expand, score, 1, width=1, expand_k=2, max_steps=2, is_done=done
  )
  full, n2 = beam_search(
      expand, score, 1, width=2, expand_k=2, max_steps=2, is_done=done
  )
  assert greedy[0].text == "x\nx\n"  # tie 0.1 / 0.1: the earlier child.
  assert full[0].text == "y\nx\n"
  assert math.isclose(full[0].score, math.log(0.5) + math.log(0.9))
  assert (n1, n2) == (2 + 2, 2 + 4)


def test_duplicate_children_are_scored_once():
  expand = lambda items, k: [["x\n"] * k for _ in items]
  calls = []

  def score(items):
    calls.append(len(items))
    return np.full(len(items), 0.5)

  best, scored = beam_search(
      expand,
      score,
      2,
      width=3,
      expand_k=4,
      max_steps=2,
      is_done=lambda t: False,
  )
  assert calls == [2, 2] and scored == 4
  assert best[0].text == "x\nx\n"


def test_full_breadth_tree_of_thoughts_finds_the_best_valued_leaf():
  """ToT ranks states by their own value (not a sum over steps): at full
  breadth it returns the leaf of highest value, which exhaustive search
  confirms; at breadth 1 it follows the best-valued state level by level."""
  leaves = ["".join(p) + "$" for p in itertools.product(STEPS, repeat=3)]
  for seed in range(5):
    score, table = _scorer(seed)
    best, _ = tree_of_thoughts(
        _expand,
        score,
        3,
        breadth=8,
        k=2,
        max_steps=5,
        is_done=lambda t: t.endswith("$"),
    )
    for q in range(3):
      want = max(leaves, key=lambda t: table[(q, t)])
      assert best[q].text == want
      assert math.isclose(best[q].score, math.log(table[(q, want)]))
  table = {
      "x\n": 0.9,
      "y\n": 0.5,
      "x\nx\n": 0.1,
      "x\ny\n": 0.3,
      "y\nx\n": 0.9,
      "y\ny\n": 0.2,
  }
  score = lambda items: np.asarray([table[t] for _, t in items])
  expand = lambda items, k: [["x\n", "y\n"] for _ in items]
  done = lambda t: t.count("\n") == 2
  one, _ = tree_of_thoughts(
      expand, score, 1, breadth=1, k=2, max_steps=2, is_done=done
  )
  two, _ = tree_of_thoughts(
      expand, score, 1, breadth=2, k=2, max_steps=2, is_done=done
  )
  assert one[0].text == "x\ny\n" and two[0].text == "y\nx\n"
