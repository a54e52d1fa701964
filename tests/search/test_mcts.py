"""MCTS (PUCT) selection, backup and best path against hand-worked trees."""

import math

import numpy as np
import pytest

from reasoning_jax.search import mcts


def test_puct_formula_by_hand():
  # Q + c P sqrt(N_parent) / (1 + N) with N_parent = 4, c = 1.5.
  got = mcts.puct([0.5, 0.2], [2, 0], [0.3, 0.7], 4, 1.5)
  np.testing.assert_allclose(
      got, [0.5 + 1.5 * 0.3 * 2 / 3, 0.2 + 1.5 * 0.7 * 2 / 1]
  )


def test_priors_renormalise_step_probabilities():
  np.testing.assert_allclose(
      mcts.priors(np.log([0.2, 0.1, 0.1])), [0.5, 0.25, 0.25]
  )
  np.testing.assert_allclose(
      mcts.priors([-1000.0, -1001.0]), [1 / (1 + math.e**-1), 1 / (1 + math.e)]
  )


def _tree():
  """root (N=3) -> A (N=2, W=1.2, P=.6), B (N=1, W=.9, P=.4); A -> A1."""
  t = mcts.Tree.root()
  t.nodes[0].visits = 3
  t.nodes += [
      mcts.Node("a\n", 0, 0.6, 0.5, False, 2, 1.2),
      mcts.Node("b\n", 0, 0.4, 0.8, False, 1, 0.9),
      mcts.Node("a\nc\n", 1, 1.0, 0.1, True, 1, 0.1),
  ]
  t.nodes[0].children = [1, 2]
  t.nodes[1].children = [3]
  return t


def test_select_takes_highest_puct_down_to_an_unexpanded_node():
  t = _tree()
  # A: 0.6 + 0.6·√3/3 = 0.946; B: 0.9 + 0.4·√3/2 = 1.246 -> B, a leaf.
  assert mcts.select(t, 1.0) == [0, 2]
  # B's prior at .1 and c = 10: A 0.6 + 10·.6·√3/3 = 4.06, B 0.9 +
  # 10·.1·√3/2 = 1.77 -> A; its only child is terminal and ends the path.
  t.nodes[2].prior = 0.1
  assert mcts.select(t, 10.0) == [0, 1, 3]


def test_backup_adds_the_value_along_the_path_and_unvisited_q_is_value():
  t = _tree()
  new = mcts.add_children(
      t, 2, ["b\nx\n", "b\ny\n"], np.log([0.3, 0.1]), [0.7, 0.2], [False, True]
  )
  assert new == [4, 5] and t.nodes[2].children == [4, 5]
  np.testing.assert_allclose([t.nodes[i].prior for i in new], [0.75, 0.25])
  assert t.nodes[4].q == 0.7  # unvisited: its evaluation.
  mcts.backup(t, [0, 2, 4], 0.7)
  assert [t.nodes[i].visits for i in (0, 2, 4)] == [4, 2, 1]
  np.testing.assert_allclose(
      [t.nodes[i].total for i in (0, 2, 4)], [0.7, 1.6, 0.7]
  )
  assert t.nodes[2].q == pytest.approx(0.8)


def test_duplicate_children_are_kept_once():
  t = mcts.Tree.root()
  idx = mcts.add_children(
      t,
      0,
      ["x\n", "x\n", "y\n"],
      np.log([0.5, 0.5, 0.25]),
      [0.3, 0.3, 0.9],
      [False] * 3,
  )
  assert [t.nodes[i].text for i in idx] == ["x\n", "y\n"]
  np.testing.assert_allclose([t.nodes[i].prior for i in idx], [2 / 3, 1 / 3])
  calls = []

  def evaluate(items):
    calls.append([x for _, x in items])
    return [0.5] * len(items)

  mcts.search(
      lambda items, k: [
          (["a\n", "a\n", "b"], [-1.0, -1.0, -2.0]) for _ in items
      ],
      evaluate,
      1,
      num_simulations=1,
      k=3,
      c_puct=1.0,
      is_done=lambda x: False,
  )
  assert calls == [["a\n", "b"]]


def test_best_path_by_visits_then_q():
  t = _tree()
  assert mcts.best_path(t) == [0, 1, 3]  # A has 2 visits to B's 1.
  t.nodes[2].visits, t.nodes[2].total = 2, 1.8  # tie on visits: Q 0.9 > 0.6.
  assert mcts.best_path(t) == [0, 2]


def test_search_matches_a_hand_simulation():
  """Two steps per node (priors .75 / .25), depth 2, c = 1, four
  simulations worked by hand:

  1. root expanded: x (v .2), y (v .9); root N=1, W=0.
  2. √1: x .2+.75 = .95, y .9+.25 = 1.15 -> y; expanded (yx .6, yy .1);
     back up .9: root N2 W.9, y N1 W.9.
  3. √2: x .2+.75·1.414 = 1.261, y .9+.25·1.414/2 = 1.077 -> x; expanded
     (xx .3, xy .5); back up .2: root N3 W1.1, x N1 W.2.
  4. √3: x .2+.75·1.732/2 = .850, y .9+.25·1.732/2 = 1.117 -> y; under y
     (√1): yx .6+.75 = 1.35, yy .1+.25 = .35 -> yx, terminal; back up .6:
     root N4 W1.7, y N2 W1.5, yx N1 W.6.
  """
  values = {
      "x\n": 0.2,
      "y\n": 0.9,
      "y\nx\n": 0.6,
      "y\ny\n": 0.1,
      "x\nx\n": 0.3,
      "x\ny\n": 0.5,
  }
  expand = lambda items, k: [
      (["x\n", "y\n"], np.log([0.75, 0.25])) for _ in items
  ]
  evaluate = lambda items: [values[t] for _, t in items]
  trees, evaluated = mcts.search(
      expand,
      evaluate,
      2,
      num_simulations=4,
      k=2,
      c_puct=1.0,
      is_done=lambda t: t.count("\n") == 2,
  )
  assert evaluated == 2 * 6  # two problems, three expansions of two.
  for t in trees:
    by_text = {n.text: n for n in t.nodes}
    got = {
        k: (by_text[k].visits, round(by_text[k].total, 6))
        for k in ("", "x\n", "y\n", "y\nx\n", "y\ny\n")
    }
    assert got == {
        "": (4, 1.7),
        "x\n": (1, 0.2),
        "y\n": (2, 1.5),
        "y\nx\n": (1, 0.6),
        "y\ny\n": (0, 0.0),
    }
    assert t.nodes[mcts.best_path(t)[-1]].text == "y\nx\n"
    labels = dict(mcts.step_labels(t))
    assert labels["y\nx\n"] == {"y\n": 0.75, "y\nx\n": 0.6}
    assert labels["x\ny\n"] == {"x\n": 0.2, "x\ny\n": 0.5}
