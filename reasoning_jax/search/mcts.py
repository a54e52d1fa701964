"""Monte Carlo tree search over reasoning steps (PUCT), batched over problems.

A node is a completion prefix made of whole steps; its children are next
steps sampled from the policy. One simulation per problem per round, all
problems in lockstep, so each round costs one batched policy call (the
expansions) and one batched value call (the children's values):

1. **select**: from the root, descend to the child maximising PUCT (ties to
   the earlier child) until a node that is not yet expanded;
2. **expand**: sample k next steps of that leaf (duplicates dropped); each
   distinct child's prior is the policy's probability of its step
   renormalised over the distinct siblings, ``P_i = π(step_i) / Σ_j
   π(step_j)``, and its value
   ``v_i`` comes from the evaluator (a PRM on the prefix at test time, or
   rule-scored rollouts on train problems whose answer is known);
3. **backup**: the leaf's own value ``v(leaf)`` is added to every node on
   the path: ``N += 1``, ``W += v``. A terminal leaf (a finished completion)
   is not expanded; its value is backed up again.

A node's ``Q = W / N``; an unvisited child is valued at its evaluation,
``Q = v``. The answer follows the most-visited child from the root (ties to
the higher Q, then the earlier child) and, if that path has not finished,
the caller completes it. Tree bookkeeping is host-side; the model calls are
batched (the callers use the jitted sampler and scorers).

mctx was considered and not used: its actions are a fixed discrete set with
an on-device ``recurrent_fn``, while here an action is a sampled text step
whose expansion is a whole decoding call.
"""

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np


def puct(q, n, prior, n_parent: int, c_puct: float) -> np.ndarray:
  """PUCT scores of sibling children: ``Q + c · P · √N_parent / (1 + N)``.

  ``q``, ``n``, ``prior``: [K] per child (value, visits, prior).
  """
  q, n, prior = (np.asarray(x, np.float64) for x in (q, n, prior))
  assert q.shape == n.shape == prior.shape and q.ndim == 1, (
      q.shape,
      n.shape,
      prior.shape,
  )
  return q + c_puct * prior * math.sqrt(n_parent) / (1.0 + n)


def priors(logprob) -> np.ndarray:
  """Sibling priors from step log-probs: softmax over the siblings, i.e.
  ``π(step_i) / Σ_j π(step_j)`` (max-shifted for stability)."""
  x = np.asarray(logprob, np.float64)
  assert x.ndim == 1 and len(x), x.shape
  e = np.exp(x - x.max())
  return e / e.sum()


@dataclasses.dataclass
class Node:
  text: str  # completion prefix (whole steps).
  parent: int  # index in Tree.nodes; -1 for the root.
  prior: float
  value: float  # the evaluator's value of this prefix.
  done: bool  # a finished completion (terminal).
  visits: int = 0
  total: float = 0.0  # W: sum of backed-up values.
  children: list = dataclasses.field(default_factory=list)

  @property
  def q(self) -> float:
    return self.total / self.visits if self.visits else self.value

  @property
  def expanded(self) -> bool:
    return bool(self.children)


@dataclasses.dataclass
class Tree:
  nodes: list  # [Node]; nodes[0] is the root.

  @classmethod
  def root(cls, text: str = "") -> "Tree":
    return cls([Node(text, -1, 1.0, 0.0, False)])


def select(tree: Tree, c_puct: float) -> list[int]:
  """Node indices from the root to the first unexpanded (or terminal) node,
  each step taking the child of highest PUCT (ties to the earlier one)."""
  path = [0]
  node = tree.nodes[0]
  while node.expanded and not node.done:
    kids = [tree.nodes[i] for i in node.children]
    s = puct(
        [k.q for k in kids],
        [k.visits for k in kids],
        [k.prior for k in kids],
        max(node.visits, 1),
        c_puct,
    )
    path.append(node.children[int(np.argmax(s))])
    node = tree.nodes[path[-1]]
  return path


def add_children(
    tree: Tree,
    parent: int,
    texts: Sequence[str],
    logprob,
    values,
    done: Sequence[bool],
) -> list[int]:
  """Attaches the distinct children (a repeated text keeps its first
  entry: π(step) is a property of the text, and counting repeats would
  count the sampling twice) and returns their indices."""
  assert len(texts) == len(logprob) == len(values) == len(done), (
      len(texts),
      len(logprob),
      len(values),
      len(done),
  )
  merged = {}  # text -> [logprob, value, done]
  for t, lp, v, d in zip(texts, logprob, values, done):
    merged.setdefault(t, [float(lp), float(v), bool(d)])
  p = priors([m[0] for m in merged.values()])
  idx = []
  for (t, (_, v, d)), pi in zip(merged.items(), p):
    tree.nodes.append(Node(t, parent, float(pi), v, d))
    idx.append(len(tree.nodes) - 1)
  tree.nodes[parent].children.extend(idx)
  return idx


def backup(tree: Tree, path: Sequence[int], value: float) -> None:
  """``N += 1`` and ``W += value`` on every node of the path."""
  for i in path:
    tree.nodes[i].visits += 1
    tree.nodes[i].total += value


def best_path(tree: Tree) -> list[int]:
  """From the root, the most-visited child at each level (ties: higher Q,
  then the earlier child), down to a node without children."""
  path = [0]
  while tree.nodes[path[-1]].children:
    kids = tree.nodes[path[-1]].children
    path.append(
        max(kids, key=lambda i: (tree.nodes[i].visits, tree.nodes[i].q, -i))
    )
  return path


def search(
    expand: Callable,
    evaluate: Callable,
    num_problems: int,
    *,
    num_simulations: int,
    k: int,
    c_puct: float,
    is_done: Callable[[str], bool]
) -> tuple[list[Tree], int]:
  """Runs ``num_simulations`` simulations on every problem in lockstep.

  ``expand(items, k)``: for each ``(problem, prefix)`` k next steps as
  ``(texts, logprobs)``; ``evaluate(items)``: for each ``(problem, text)``
  a value in [0, 1], called once per distinct child. Returns the trees and
  the number of children evaluated.
  """
  trees = [Tree.root() for _ in range(num_problems)]
  evaluated = 0
  for _ in range(num_simulations):
    paths = [select(t, c_puct) for t in trees]
    todo = [
        q for q in range(num_problems) if not trees[q].nodes[paths[q][-1]].done
    ]
    if todo:
      steps = expand([(q, trees[q].nodes[paths[q][-1]].text) for q in todo], k)
      assert len(steps) == len(todo), (len(steps), len(todo))
      steps = [
          tuple(zip(*dict(zip(texts, lps)).items()))  # distinct.
          for texts, lps in steps
      ]
      kids = [
          (q, trees[q].nodes[paths[q][-1]].text + s, lp)
          for q, (texts, lps) in zip(todo, steps)
          for s, lp in zip(texts, lps)
      ]
      values = np.asarray(evaluate([(q, t) for q, t, _ in kids]), np.float64)
      evaluated += len(kids)
      at = 0
      for q, (texts, _) in zip(todo, steps):
        rows = kids[at : at + len(texts)]
        add_children(
            trees[q],
            paths[q][-1],
            [t for _, t, _ in rows],
            [lp for _, _, lp in rows],
            values[at : at + len(texts)],
            [is_done(t) for _, t, _ in rows],
        )
        at += len(texts)
    for q in range(num_problems):
      leaf = trees[q].nodes[paths[q][-1]]
      backup(trees[q], paths[q], leaf.value if paths[q][-1] else 0.0)
  return trees, evaluated


def step_labels(tree: Tree) -> list[tuple[str, dict]]:
  """rStar-Math style step labels: for every finished leaf, its text and
  ``{prefix: Q}`` for the nodes on its path (root excluded); a step's label
  is the Q of the node whose text ends with that step."""
  out = []
  for i, node in enumerate(tree.nodes):
    if node.done and i:
      qs = {}
      while i > 0:
        qs[tree.nodes[i].text] = tree.nodes[i].q
        i = tree.nodes[i].parent
      out.append((node.text, qs))
  return out
