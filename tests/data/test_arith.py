"""arith: evaluator, reference solutions, step checks and split hygiene."""

import pytest

from reasoning_jax.data import arith
from reasoning_jax.data import tasks
from reasoning_jax.rewards import answers


@pytest.mark.parametrize(
    "expr,value",
    [
        ("12+7*3-5", 28),
        ("2*3*4-1", 23),
        ("3-10", -7),
        ("-7+4", -3),
        ("8-3-2", 3),
        ("5", 5),
        (" 4 + 5 ", 9),
        ("2*-3", None),
        ("1--2", None),
        ("1+", None),
        ("abc", None),
        ("", None),
        ("2**3", None),
        ("(1+2)", None),
        ("1/2", None),
        ("__import__('os')", None),
        ("1" * 13, None),
        ("+".join(["1"] * 120), None),
    ],
)
def test_evaluate_hand_worked(expr, value):
  assert arith.evaluate(expr) == value


@pytest.mark.parametrize("difficulty", [1, 2, 3, 5])
def test_reference_solutions_are_correct_step_by_step(difficulty):
  task = arith.Arith(seed=1, difficulty=difficulty)
  for split in tasks.SPLITS:
    for i in range(100):
      ex = task.example(split, i)
      question = ex.prompt[len("Compute ") : -1]
      assert arith.evaluate(question) == int(ex.answer)
      steps = answers.think_steps(ex.solution)
      assert len(steps) == difficulty + 1  # one line per operation.
      assert all(task.step_is_correct(s, ex) for s in steps)
      assert steps[-1] == ex.answer
      assert task.is_correct(ex.solution, ex)


def test_wrong_steps_and_answers_are_rejected():
  task = arith.Arith(difficulty=2)
  ex = task.example("train", 0)  # 3*2+11+1 -> 6+11+1, 17+1, 18
  assert ex.prompt == "Compute 3*2+11+1." and ex.answer == "18"
  assert not task.step_is_correct("6+11+2", ex)
  assert not task.step_is_correct("banana", ex)
  assert task.step_is_correct("17+1", ex)
  wrong = ex.solution.replace("\\boxed{18}", "\\boxed{19}")
  assert not task.is_correct(wrong, ex)
  assert not task.is_correct("", ex)


def test_splits_are_disjoint_and_deterministic():
  task = arith.Arith(seed=0, difficulty=1)
  train = {task.example("train", i).prompt for i in range(2000)}
  test = {task.example("test", i).prompt for i in range(500)}
  assert not train & test
  assert task.example("test", 7) == arith.Arith(0, 1).example("test", 7)
  assert task.example("test", 7) != arith.Arith(1, 1).example("test", 7)


def test_registry_builds_tasks_and_rejects_unknown():
  assert {"arith", "countdown"} <= set(tasks.task_names())
  assert tasks.get_task("arith", difficulty=3).difficulty == 3
  with pytest.raises(ValueError, match="unknown task 'nope'"):
    tasks.get_task("nope")
  with pytest.raises(ValueError, match="difficulty"):
    arith.Arith(difficulty=9)
