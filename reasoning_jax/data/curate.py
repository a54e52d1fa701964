r"""s1-style curation (Muennighoff et al. 2025): a small set of worked
solutions chosen for quality, difficulty and diversity.

- **Quality**: the reference solution is well formed (one ``<think>`` block
  then a boxed answer) and the task's verifier accepts it.
- **Difficulty**: longer reasoning first: the number of thinking lines,
  then the solution's length in characters.
- **Diversity**: problems are grouped by *template*, the prompt with every
  number replaced by ``#`` (for ``arith``: the operator pattern; for
  ``countdown``: how many numbers); the choice takes the hardest remaining
  problem of each template in turn (round robin, templates ordered by their
  hardest problem), so no template dominates while any other is left.
"""

import re

from reasoning_jax.data import tasks
from reasoning_jax.rewards import format_reward
from reasoning_jax.rewards.answers import think_steps

_NUMBER = re.compile(r"\d+")


def template(prompt: str) -> str:
  """The prompt with every run of digits replaced by ``#``."""
  return _NUMBER.sub("#", prompt)


def difficulty(example: tasks.Example) -> tuple[int, int]:
  """(thinking lines, solution characters): larger is harder."""
  return len(think_steps(example.solution)), len(example.solution)


def curate(
    examples: list[tasks.Example], n: int, task: tasks.Task
) -> list[tasks.Example]:
  """``n`` examples of ``examples`` by quality, difficulty and diversity
  (see the module docstring); fewer when fewer pass the quality filter.

  Deterministic: ties keep the order of ``examples``.
  """
  assert n > 0, n
  good = [
      e
      for e in examples
      if format_reward(e.solution) == 1.0 and task.is_correct(e.solution, e)
  ]
  groups: dict[str, list[tasks.Example]] = {}
  for e in sorted(good, key=difficulty, reverse=True):  # stable sort.
    groups.setdefault(template(e.prompt), []).append(e)
  queues = list(groups.values())  # by each template's hardest problem.
  out, i = [], 0
  while len(out) < min(n, len(good)):
    q = queues[i % len(queues)]
    if q:
      out.append(q.pop(0))
    i += 1
  return out
