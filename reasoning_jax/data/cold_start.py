r"""The cold-start teacher: worked solutions, or bare answers on short problems.

Real cold-start data is uneven: a teacher (a person, or a model prompted for
brevity) writes its reasoning out on problems that look long and often just
states the answer on ones that look short. ``teacher_solutions`` turns
reference solutions into such a set: a problem whose worked solution has at
most ``max_steps`` thinking lines gets, with probability ``share``, the bare
answer ``\boxed{156}`` (no ``<think>`` block) in place of its solution.

A policy fine-tuned on this answers short problems at once most of the time,
and a small model is usually wrong when it does; the first token it writes
(``<think>`` or ``\boxed``) decides which. RL with an exact verifier then
learns whether writing the steps pays on short problems too: see the
``think_rate`` and per-length accuracy it reports.
"""

import dataclasses
import random

from reasoning_jax.data import tasks
from reasoning_jax.rewards.answers import think_steps


def bare_answer(example: tasks.Example) -> str:
  """The completion that states the answer with no reasoning."""
  return "\\boxed{" + example.answer + "}"


def num_steps(solution: str) -> int:
  """Thinking lines of a worked solution (0 without a ``<think>`` block)."""
  return len(think_steps(solution))


def teacher_solutions(
    examples: list[tasks.Example], *, share: float, max_steps: int, seed: int
) -> list[tasks.Example]:
  """``examples`` with bare answers on a ``share`` of the short ones (at
  most ``max_steps`` thinking lines); see the module docstring. The choice
  is a pure function of ``seed`` and the example's position."""
  assert 0 <= share <= 1 and max_steps >= 0, (share, max_steps)
  rng = random.Random(seed)
  out = []
  for ex in examples:
    bare = rng.random() < share and num_steps(ex.solution) <= max_steps
    out.append(
        dataclasses.replace(ex, solution=bare_answer(ex)) if bare else ex
    )
  return out
