"""chain: left-to-right evaluation, reference solutions, step checks."""

import random

import pytest

from reasoning_jax.data import chain
from reasoning_jax.data import tasks


@pytest.mark.parametrize(
    "text,value",
    [
        ("47+8*3-9", 156),
        ("12*2", 24),
        ("5-9", -4),
        ("90*2-1", 179),
        ("3", None),
        ("1+", None),
        ("+1", None),
        ("-7+4", None),
        ("2**3", None),
        ("1/2", None),
        ("(1+2)", None),
        ("abc", None),
        ("", None),
        ("__import__('os')", None),
        ("1" * 13, None),
        ("+".join(["1"] * 20), None),
    ],
)
def test_evaluate_left_to_right_hand_worked(text, value):
  assert chain.evaluate(text) == value


def _reference_value(start, ops):
  """The chain's value by an independent loop over the operator names."""
  names = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__}
  v = start
  for op, x in ops:
    v = names[op](v, x)
  return v


@pytest.mark.parametrize("difficulty", [1, 3, 5])
def test_reference_solutions_are_correct_step_by_step(difficulty):
  task = chain.Chain(seed=1, difficulty=difficulty)
  counts = set()
  for split in tasks.SPLITS:
    for i in range(200):
      ex = task.example(split, i)
      start, ops = chain.problem_of(ex)
      counts.add(len(ops))
      assert 2 <= len(ops) <= difficulty + 2
      assert 10 <= start <= 99 and all(1 <= x <= 9 for _, x in ops)
      assert all(x >= 2 for op, x in ops if op == "*")
      v = start  # every intermediate value stays in range.
      for op, x in ops:
        v = _reference_value(v, [(op, x)])
        assert 0 <= v <= chain.MAX_VALUE
      assert int(ex.answer) == _reference_value(start, ops)
      steps = [s for s in ex.solution.split("\n") if "=" in s]
      assert len(steps) == len(ops)
      assert all(task.step_is_correct(s, ex) for s in steps)
      assert task.is_correct(ex.solution, ex)
  assert counts == set(range(2, difficulty + 3))  # the whole mixture.


def test_wrong_steps_and_answers_are_rejected():
  task = chain.Chain(difficulty=3)
  ex = task.example("train", 0)
  assert ex.prompt == "Compute 29+5*2-1+4-7 left to right."
  assert ex.answer == "64"
  assert task.step_is_correct("29+5=34", ex)
  assert task.step_is_correct(" 34 * 2 = 68 ", ex)
  assert not task.step_is_correct("29+5=35", ex)  # wrong arithmetic.
  assert not task.step_is_correct("34*2=68", tasks.Example("x", "64", ""))
  assert not task.step_is_correct("35*2=70", ex)  # exact, off the chain.
  assert not task.step_is_correct("29*5=145", ex)  # wrong operation.
  assert not task.step_is_correct("banana", ex)
  assert task.step_is_wellformed("35*2=70")
  assert not task.step_is_wellformed("35*2")
  wrong = ex.solution.replace("\\boxed{64}", "\\boxed{65}")
  assert not task.is_correct(wrong, ex)
  assert task.difficulty_of(ex) == 5
  assert task.difficulty_of(tasks.Example("Compute 1+2.", "3", "")) == 0


def test_splits_are_disjoint_deterministic_and_large():
  task = chain.Chain(seed=0, difficulty=3)
  train = {task.example("train", i).prompt for i in range(3000)}
  test = {task.example("test", i).prompt for i in range(1000)}
  assert not train & test
  assert len(train) > 2950  # a large space: few repeats in a stream.
  assert task.example("test", 7) == chain.Chain(0, 3).example("test", 7)
  assert task.example("test", 7) != chain.Chain(1, 3).example("test", 7)


def test_parsers_are_total_on_hostile_text():
  rng = random.Random(0)
  alphabet = "0123456789+-*=/() \n\\{}ab"
  for _ in range(2000):
    s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    chain.evaluate(s)
    chain.parse_step(s)
  assert chain.evaluate("9" * 100_000) is None
  assert chain.parse_step("1+" * 100_000 + "1=2") is None
