"""Registry of procedural reasoning tasks with exact verifiers.

A task turns ``(split, index)`` into an :class:`Example` deterministically, so a
dataset is just a range of indices and never needs to be stored. Train and test
splits are disjoint by construction: every candidate problem is hashed, and the
hash alone decides which split may hold it (``in_split``); a generator draws
candidates from its ``(seed, split, index)`` stream until one lands in its split.
"""

import dataclasses
import hashlib
import importlib
import json
import random
from typing import Callable, Protocol

from reasoning_jax import files

SPLITS = ("train", "dev", "test")
# Shares of the problem space, by problem hash: the test split (reported
# once, never tuned on) and the dev split (every choice and every periodic
# evaluation); train holds the rest.
TEST_PERCENT = 10
DEV_PERCENT = 10


@dataclasses.dataclass(frozen=True)
class Example:
  """One problem: what the model sees, what it must answer, a worked solution."""

  prompt: str  # question text, no chat template.
  answer: str  # gold final answer as text.
  solution: str  # reference completion: "<think>\n...\n</think>\n\\boxed{..}".


def save_examples(path: str, examples: list[Example]) -> None:
  """Writes ``examples`` as JSON lines, atomically (a temp file renamed into
  place), so a run killed mid-write never leaves a truncated set behind."""
  files.write_lines(path, (json.dumps(dataclasses.asdict(e)) for e in examples))


def load_examples(path: str) -> list[Example]:
  """What ``save_examples`` wrote."""
  with open(path, encoding="utf-8") as f:
    return [Example(**json.loads(line)) for line in f if line.strip()]


class Task(Protocol):
  """What the trainers, rewards and search need from a task."""

  name: str

  def example(self, split: str, index: int) -> Example:
    ...

  def is_correct(self, completion: str, example: Example) -> bool:
    ...


def split_rng(task: str, seed: int, split: str, index: int) -> random.Random:
  """A Python RNG unique to ``(task, seed, split, index)``."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  key = f"{task}|{seed}|{split}|{index}".encode()
  return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def split_of(problem_key: str) -> str:
  """The split a canonical problem text belongs to (a pure function of its
  hash): test, dev or train."""
  h = int.from_bytes(hashlib.sha256(problem_key.encode()).digest()[:4], "big")
  h %= 100
  if h < TEST_PERCENT:
    return "test"
  return "dev" if h < TEST_PERCENT + DEV_PERCENT else "train"


def in_split(problem_key: str, split: str) -> bool:
  """True when the canonical problem text belongs to ``split``."""
  return split_of(problem_key) == split


def distinct_examples(task, split: str, n: int, limit: int | None = None):
  """The first ``n`` distinct problems (by prompt) of ``split``, in index
  order; fewer when the split (or ``limit`` indices) runs out first."""
  out, seen, i = [], set(), 0
  while len(out) < n and (limit is None or i < limit):
    ex = task.example(split, i)
    i += 1
    if ex.prompt not in seen:
      seen.add(ex.prompt)
      out.append(ex)
  return out


_REGISTRY: dict[str, Callable[..., Task]] = {}


def register(name: str):
  """Class decorator adding a task factory to the registry."""

  def wrap(factory):
    _REGISTRY[name] = factory
    return factory

  return wrap


def task_names() -> tuple[str, ...]:
  _import_builtin_tasks()
  return tuple(sorted(_REGISTRY))


def get_task(name: str, **kwargs) -> Task:
  """Builds the registered task ``name`` (kwargs: seed, difficulty, ...)."""
  _import_builtin_tasks()
  if name not in _REGISTRY:
    raise ValueError(f"unknown task {name!r}; known: {sorted(_REGISTRY)}")
  return _REGISTRY[name](**kwargs)


def _import_builtin_tasks():
  """The built-in task modules register themselves when imported.

  They import this module for `Task` and `register`, so the registry pulls
  them in on first use instead of at the top (the one import cycle left).
  """
  for name in _BUILTIN_MODULES:
    importlib.import_module(f"reasoning_jax.data.{name}")


_BUILTIN_MODULES = ("arith", "chain", "countdown", "datasets")
