"""``chain``: integer operations applied left to right, one equation a line.

A problem is a start value and a chain of operations read strictly left to
right (no precedence), e.g. ``Compute 47+8*3-9 left to right.`` The
reference solution does one operation per line inside ``<think>`` and boxes
the value::

  <think>
  47+8=55
  55*3=165
  165-9=156
  </think>
  \\boxed{156}

A step line is correct when it is one of the problem's own steps
(``step_is_correct``): exact arithmetic applied to the right value and
operation. The start is 10..99, later operands 1..9 (``*`` by 2..9), and
every intermediate value stays in 0..99, so each step is a small operation
that a small model learns within the default job's SFT budget (README),
while the problem space stays large (~3*10^8 chains of five
operations; ~36,000 of two). Difficulty d (1..5) draws 2..(d + 2)
operations uniformly: short and long chains in one test set
(``difficulty_of`` bins them by operation count).
"""

import dataclasses
import re
from typing import ClassVar

from reasoning_jax.data import tasks
from reasoning_jax.rewards import accuracy_reward

MAX_VALUE = 99  # every intermediate value lies in 0..MAX_VALUE.
_CHAIN = re.compile(r"(\d{1,3})((?:[+\-*]\d{1,3}){1,12})")
_OP = re.compile(r"([+\-*])(\d{1,3})")
_STEP = re.compile(r"\s*(\d{1,6})\s*([+\-*])\s*(\d{1,6})\s*=\s*(\d{1,6})\s*")
_PROMPT = re.compile(r"Compute (\S{1,64}) left to right\.")

Ops = list[tuple[str, int]]  # [(operator, operand), ...] in order.


def apply(value: int, op: str, x: int) -> int:
  return value + x if op == "+" else value - x if op == "-" else value * x


def render(start: int, ops: Ops) -> str:
  return str(start) + "".join(f"{op}{x}" for op, x in ops)


def parse_chain(text: str) -> tuple[int, Ops] | None:
  """``(start, ops)`` of a chain such as ``47+8*3``, or None. Bounded
  regular expressions only; never executes text."""
  m = _CHAIN.fullmatch(text.strip())
  if not m:
    return None
  return int(m.group(1)), [(op, int(x)) for op, x in _OP.findall(m.group(2))]


def evaluate(chain: str) -> int | None:
  """Left-to-right value of a chain (``47+8*3`` is 165), else None."""
  parsed = parse_chain(chain)
  if parsed is None:
    return None
  value, ops = parsed
  for op, x in ops:
    value = apply(value, op, x)
  return value


def solution_lines(start: int, ops: Ops) -> list[str]:
  """One equation per operation: ``["47+8=55", "55*3=165", ...]``."""
  lines, value = [], start
  for op, x in ops:
    new = apply(value, op, x)
    lines.append(f"{value}{op}{x}={new}")
    value = new
  return lines


def parse_step(line: str) -> tuple[int, str, int, int] | None:
  """``(a, op, b, c)`` of a step line ``a op b=c`` (spaces allowed)."""
  m = _STEP.fullmatch(line)
  return (
      None
      if m is None
      else (int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)))
  )


def problem_of(example: tasks.Example) -> tuple[int, Ops] | None:
  """``(start, ops)`` from a chain prompt, or None for another prompt."""
  m = _PROMPT.fullmatch(example.prompt)
  return None if m is None else parse_chain(m.group(1))


def _next_op(rng, value: int) -> tuple[str, int]:
  """A random operation keeping the value in 0..MAX_VALUE (one always
  exists: ``+1`` or ``-1`` fits any value in range)."""
  while True:
    op = rng.choice("+-*")
    x = rng.randint(2, 9) if op == "*" else rng.randint(1, 9)
    if 0 <= apply(value, op, x) <= MAX_VALUE:
      return op, x


@tasks.register("chain")
@dataclasses.dataclass(frozen=True)
class Chain:
  """Left-to-right integer chains; see the module docstring."""

  seed: int = 0
  difficulty: int = 3
  name: ClassVar[str] = "chain"

  def __post_init__(self):
    if not 1 <= self.difficulty <= 5:
      raise ValueError(
          f"chain difficulty must be in 1..5, got {self.difficulty}"
      )

  def problem(self, split: str, index: int) -> tuple[int, Ops]:
    """``(start, ops)`` of problem ``index`` of ``split``."""
    rng = tasks.split_rng(self.name, self.seed, split, index)
    while True:
      n_ops = rng.randint(2, self.difficulty + 2)
      start = value = rng.randint(10, 99)
      ops = []
      for _ in range(n_ops):
        ops.append(_next_op(rng, value))
        value = apply(value, *ops[-1])
      if tasks.in_split(render(start, ops), split):
        return start, ops

  def example(self, split: str, index: int) -> tasks.Example:
    start, ops = self.problem(split, index)
    lines = solution_lines(start, ops)
    answer = lines[-1].rsplit("=", 1)[1]
    solution = (
        "<think>\n" + "\n".join(lines) + "\n</think>\n\\boxed{" + answer + "}"
    )
    return tasks.Example(
        prompt=f"Compute {render(start, ops)} left to right.",
        answer=answer,
        solution=solution,
    )

  def is_correct(self, completion: str, example: tasks.Example) -> bool:
    return accuracy_reward(completion, example.answer) == 1.0

  def difficulty_of(self, example: tasks.Example) -> int:
    """The problem's operation count (0 for a prompt that is not a chain):
    evaluations report pass@1 per count."""
    p = problem_of(example)
    return 0 if p is None else len(p[1])

  def step_is_wellformed(self, line: str) -> bool:
    """A step line is syntactically a step ``a op b=c`` (right or wrong)."""
    return parse_step(line) is not None

  def step_is_correct(self, line: str, example: tasks.Example) -> bool:
    """A step line is correct when it is one of the problem's steps: the
    value reached so far, the next operation, the exact result."""
    step, problem = parse_step(line), problem_of(example)
    if step is None or problem is None:
      return False
    value = problem[0]
    for op, x in problem[1]:
      new = apply(value, op, x)
      if step == (value, op, x, new):
        return True
      value = new
    return False
