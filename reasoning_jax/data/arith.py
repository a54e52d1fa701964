"""``arith``: multi-step integer arithmetic with one checkable step per line.

A problem is an expression over ``+ - *`` with standard precedence, e.g.
``Compute 12+7*3-5.`` The reference solution rewrites the expression one
operation at a time (leftmost ``*`` first, then leftmost ``+``/``-``), one
line per step, inside ``<think>``; then boxes the value::

  <think>
  12+21-5
  33-5
  28
  </think>
  \\boxed{28}

Every step line is an expression whose value must equal the answer, so a line
is checkable on its own (``step_is_correct``); later issues turn this into
exact process labels. Difficulty d (1..5): d + 1 operations, operands in
1..(5 * d + 5).
"""

import dataclasses
import re
from typing import ClassVar

from reasoning_jax.data import tasks
from reasoning_jax.rewards import accuracy_reward

_NUM = re.compile(r"\s*(-?\d{1,12})")  # bounded: no backtracking.
_OP = re.compile(r"\s*([+\-*])")
MAX_LINE = 200


def evaluate(expr: str) -> int | None:
  """Exact value of an ``int (op int)*`` line with precedence, else None.

  Only digits, ``+``, ``-``, ``*`` and a leading minus are accepted; anything
  else (or more than 200 characters) returns None. Never executes text.
  """
  expr = expr.strip()
  if not expr or len(expr) > MAX_LINE:
    return None
  nums, ops, pos = [], [], 0
  while True:  # alternate number, operator, number, ...
    m = _NUM.match(expr, pos)
    if not m or (nums and m.group(1).startswith("-")):
      return None
    nums.append(m.group(1))
    pos = m.end()
    if pos == len(expr):
      break
    m = _OP.match(expr, pos)
    if not m:
      return None
    ops.append(m.group(1))
    pos = m.end()
  # Fold products first, then sums left to right.
  terms, signs = [int(nums[0])], []
  for op, x in zip(ops, nums[1:]):
    if op == "*":
      terms[-1] *= int(x)
    else:
      terms.append(int(x))
      signs.append(1 if op == "+" else -1)
  return terms[0] + sum(s * t for s, t in zip(signs, terms[1:]))


def reduce_once(nums: list[int], ops: list[str]) -> tuple[list[int], list[str]]:
  """Applies the next operation in precedence order to ``nums``/``ops``."""
  i = ops.index("*") if "*" in ops else 0
  a, b = nums[i], nums[i + 1]
  v = a * b if ops[i] == "*" else a + b if ops[i] == "+" else a - b
  return nums[:i] + [v] + nums[i + 2 :], ops[:i] + ops[i + 1 :]


def render(nums: list[int], ops: list[str]) -> str:
  out = str(nums[0])
  for op, x in zip(ops, nums[1:]):
    out += f"{op}{x}"
  return out


@tasks.register("arith")
@dataclasses.dataclass(frozen=True)
class Arith:
  """Multi-step integer arithmetic; see the module docstring."""

  seed: int = 0
  difficulty: int = 2
  name: ClassVar[str] = "arith"

  def __post_init__(self):
    if not 1 <= self.difficulty <= 5:
      raise ValueError(
          f"arith difficulty must be in 1..5, got {self.difficulty}"
      )

  def example(self, split: str, index: int) -> tasks.Example:
    rng = tasks.split_rng(self.name, self.seed, split, index)
    n_ops, hi = self.difficulty + 1, 5 * self.difficulty + 5
    while True:
      nums = [rng.randint(1, hi) for _ in range(n_ops + 1)]
      ops = [rng.choice("+-*") for _ in range(n_ops)]
      if tasks.in_split(render(nums, ops), split):
        break
    question = render(nums, ops)
    steps = []
    while ops:
      nums, ops = reduce_once(nums, ops)
      steps.append(render(nums, ops))
    answer = str(nums[0])
    solution = (
        "<think>\n" + "\n".join(steps) + "\n</think>\n\\boxed{" + answer + "}"
    )
    return tasks.Example(
        prompt=f"Compute {question}.", answer=answer, solution=solution
    )

  def is_correct(self, completion: str, example: tasks.Example) -> bool:
    return accuracy_reward(completion, example.answer) == 1.0

  def step_is_wellformed(self, line: str) -> bool:
    """A step line is syntactically a step: an ``int (op int)*`` line."""
    return evaluate(line) is not None

  def step_is_correct(self, line: str, example: tasks.Example) -> bool:
    """A step line is correct when it still evaluates to the answer."""
    value = evaluate(line)
    return value is not None and str(value) == example.answer
