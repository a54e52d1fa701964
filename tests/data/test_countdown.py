"""Tests for reasoning_jax.data.countdown (hand-worked values throughout)."""

import builtins
import collections
from fractions import Fraction
import functools

import pytest

from reasoning_jax.data import countdown
from reasoning_jax.data import tasks

DIFFICULTIES = (1, 2, 3, 4, 5)
N_EXAMPLES = 300


@functools.lru_cache(maxsize=None)
def _examples(difficulty: int, split: str) -> tuple[tasks.Example, ...]:
  task = countdown.Countdown(seed=0, difficulty=difficulty)
  return tuple(task.example(split, i) for i in range(N_EXAMPLES))


class TestParseExpression:

  @pytest.mark.parametrize(
      "text, value, literals",
      [
          ("8-3-2", Fraction(3), [8, 3, 2]),
          ("8/4/2", Fraction(1), [8, 4, 2]),
          ("2+3*4", Fraction(14), [2, 3, 4]),
          ("(2+3)*4", Fraction(20), [2, 3, 4]),
          ("7/2", Fraction(7, 2), [7, 2]),
          ("2*3+4*5", Fraction(26), [2, 3, 4, 5]),
          ("8-(3-2)", Fraction(7), [8, 3, 2]),
          ("8/(4/2)", Fraction(4), [8, 4, 2]),
          ("1/3+1/6", Fraction(1, 2), [1, 3, 1, 6]),
          (" ( 50 + 25 ) ", Fraction(75), [50, 25]),
          ("6×7", Fraction(42), [6, 7]),
          ("9÷3", Fraction(3), [9, 3]),
          ("9−4", Fraction(5), [9, 4]),
          ("0", Fraction(0), [0]),
          ("999999", Fraction(999999), [999999]),
          ("(" * 32 + "1" + ")" * 32, Fraction(1), [1]),
          ("+".join(["1"] * 16), Fraction(16), [1] * 16),
      ],
  )
  def test_value_and_literals(self, text, value, literals):
    assert countdown.parse_expression(text) == (value, literals)

  @pytest.mark.parametrize(
      "text",
      [
          "",
          "   ",
          "(2+3",
          "2+3)",
          ")(",
          "()",
          "2++3",
          "2+",
          "*2",
          "2 3",
          "2(3)",
          "1/0",
          "1/(2-2)",
          "2**3",
          "2^3",
          "-3+5",
          "5+(-3)",
          "+3",
          "2.5*2",
          "1e3",
          "1_000",
          "x",
          "3x4",
          "٣+1",  # Arabic-Indic digit three.
          "²+1",
          "__import__('os')",
          "1234567",  # 7 digits.
          "+".join(["1"] * 17),  # 17 literals.
          "(" * 33 + "1" + ")" * 33,  # depth 33.
          "(" * 1000,
          "1" + "+0" * 100,  # 201 characters.
      ],
  )
  def test_rejects(self, text):
    assert countdown.parse_expression(text) is None

  def test_length_limit_is_200_characters(self):
    text = "1" + " " * 199
    assert countdown.parse_expression(text) == (Fraction(1), [1])
    assert countdown.parse_expression(text + " ") is None

  def test_non_string_rejected(self):
    assert countdown.parse_expression(None) is None


class TestVerifyCountdown:

  @pytest.mark.parametrize(
      "expr, numbers, target, expected",
      [
          ("50+25", [3, 7, 25, 50], 75, True),
          ("7*3+50", [3, 7, 25, 50], 71, True),
          ("(50-25)*3", [3, 7, 25, 50], 75, True),
          ("50*3/2", [2, 3, 50], 75, True),
          ("50+25", [3, 7, 25, 50], 76, False),  # wrong value.
          ("50+50-25", [3, 7, 25, 50], 75, False),  # 50 used twice.
          ("50+50-25", [50, 25, 50], 75, True),  # 50 given twice.
          ("75", [3, 7, 25, 50], 75, False),  # 75 not given.
          ("7/2*2", [2, 7], 7, False),  # 2 used twice.
          ("7/2", [2, 7], 3, False),  # 7/2 is not 3.
          ("50+25=75", [25, 50], 75, False),
          ("", [25, 50], 75, False),
      ],
  )
  def test_cases(self, expr, numbers, target, expected):
    assert countdown.verify_countdown(expr, numbers, target) is expected


class TestStepIsValid:

  @pytest.mark.parametrize(
      "line, expected",
      [
          ("7*3=21", True),
          ("21+50=71", True),
          ("50-25=25", True),
          ("12/4=3", True),
          ("7 * 3 = 21", True),
          ("6×7=42", True),
          ("9÷3=3", True),
          ("7*3=22", False),
          ("3-5=-2", False),
          ("7/2=3", False),
          ("1/0=0", False),
          ("7*3", False),
          ("7*3=21=21", False),
          ("2**3=8", False),
          ("", False),
      ],
  )
  def test_cases(self, line, expected):
    assert countdown.step_is_valid(line) is expected


class TestFormatExpression:

  @pytest.mark.parametrize(
      "tree, text, value",
      [
          (("+", 2, ("*", 3, 4)), "2+3*4", 14),
          (("*", ("+", 2, 3), 4), "(2+3)*4", 20),
          (("-", 8, ("-", 3, 2)), "8-(3-2)", 7),
          (("-", ("-", 8, 3), 2), "8-3-2", 3),
          (("/", 8, ("/", 4, 2)), "8/(4/2)", 4),
          (("+", 1, ("-", 5, 2)), "1+5-2", 4),
          (("*", 6, ("/", 8, 2)), "6*8/2", 24),
          (("/", 24, ("*", 2, 3)), "24/(2*3)", 4),
      ],
  )
  def test_minimal_parentheses(self, tree, text, value):
    assert countdown.format_expression(tree) == text
    assert countdown.evaluate_tree(tree) == value
    assert countdown.parse_expression(text)[0] == value

  def test_tree_steps(self):
    tree = ("+", ("*", 7, 3), 50)
    assert countdown.tree_steps(tree) == ["7*3=21", "21+50=71"]


class TestCountdownTask:

  def test_registered(self):
    task = tasks.get_task("countdown", seed=3, difficulty=2)
    assert isinstance(task, countdown.Countdown)
    assert task.name == "countdown"

  def test_bad_difficulty(self):
    with pytest.raises(ValueError):
      countdown.Countdown(difficulty=6)

  def test_problem_of_reads_prompt(self):
    example = tasks.Example(
        prompt=(
            "Using the numbers 3, 7, 25, 50, reach 75. "
            "Use + - * / and each number at most once."
        ),
        answer="50+25",
        solution="",
    )
    assert countdown.problem_of(example) == ([3, 7, 25, 50], 75)

  @pytest.mark.parametrize("difficulty", DIFFICULTIES)
  @pytest.mark.parametrize("split", tasks.SPLITS)
  def test_reference_solutions_verify(self, difficulty, split):
    task = countdown.Countdown(seed=0, difficulty=difficulty)
    for example in _examples(difficulty, split):
      numbers, target = countdown.problem_of(example)
      assert len(numbers) == difficulty + 2
      assert all(1 <= n <= 10 * difficulty + 10 for n in numbers)
      assert 1 <= target <= 1000 and target not in numbers
      assert countdown.verify_countdown(example.answer, numbers, target)
      assert task.is_correct(example.solution, example)
      assert example.solution.endswith("\\boxed{" + example.answer + "}")

  @pytest.mark.parametrize("difficulty", DIFFICULTIES)
  def test_steps_are_valid_and_chain_to_target(self, difficulty):
    for example in _examples(difficulty, "train")[:100]:
      numbers, target = countdown.problem_of(example)
      think = example.solution.split("<think>\n")[1].split("\n</think>")[0]
      lines = think.split("\n")
      _, literals = countdown.parse_expression(example.answer)
      assert len(lines) == len(literals) - 1
      assert all(countdown.step_is_valid(line) for line in lines)
      assert all(" " not in line for line in lines)
      assert lines[-1].endswith(f"={target}")
      # Every intermediate value is a positive integer.
      assert all(int(line.split("=")[1]) > 0 for line in lines)

  def test_corrupted_step_fails(self):
    line = _examples(1, "train")[0].solution.split("\n")[1]
    a, c = line.split("=")
    assert countdown.step_is_valid(line)
    assert not countdown.step_is_valid(f"{a}={int(c) + 1}")
    # The task's step check (exact process labels) is the same rule.
    task, ex = countdown.Countdown(), _examples(1, "train")[0]
    assert task.step_is_correct(line, ex)
    assert not task.step_is_correct(f"{a}={int(c) + 1}", ex)

  def test_train_and_test_disjoint(self):
    keys = {split: set() for split in tasks.SPLITS}
    for difficulty in DIFFICULTIES:
      for split in tasks.SPLITS:
        for example in _examples(difficulty, split):
          key = countdown.problem_key(*countdown.problem_of(example))
          assert tasks.in_split(key, split)
          keys[split].add(key)
    assert not keys["train"] & keys["test"]

  def test_problems_vary(self):
    prompts = [e.prompt for e in _examples(3, "train")]
    assert len(set(prompts)) > 0.95 * len(prompts)

  def test_deterministic(self):
    a = countdown.Countdown(seed=0, difficulty=3)
    b = countdown.Countdown(seed=0, difficulty=3)
    for i in (0, 1, 17, 299):
      assert a.example("train", i) == b.example("train", i)
      assert a.example("test", i) == b.example("test", i)

  def test_seed_and_difficulty_change_examples(self):
    base = [
        countdown.Countdown(seed=0, difficulty=3).example("train", i)
        for i in range(20)
    ]
    seeded = [
        countdown.Countdown(seed=1, difficulty=3).example("train", i)
        for i in range(20)
    ]
    harder = [
        countdown.Countdown(seed=0, difficulty=4).example("train", i)
        for i in range(20)
    ]
    assert sum(x != y for x, y in zip(base, seeded)) >= 18
    assert sum(x != y for x, y in zip(base, harder)) >= 18

  def test_wrong_answers_rejected(self):
    task = countdown.Countdown(seed=0, difficulty=2)
    for example in _examples(2, "test")[:50]:
      numbers, target = countdown.problem_of(example)
      wrong = f"({example.answer})+1"
      assert countdown.parse_expression(wrong)[0] == target + 1
      assert not task.is_correct(f"\\boxed{{{wrong}}}", example)
      reused = f"\\boxed{{{numbers[0]}+{numbers[0]}}}"
      assert not task.is_correct(reused, example)
      assert not task.is_correct("no box here", example)
      assert not task.is_correct(f"\\boxed{{{target}}}", example)

  def test_is_correct_on_hand_written_completion(self):
    task = countdown.Countdown()
    example = tasks.Example(
        prompt=(
            "Using the numbers 3, 7, 25, 50, reach 71. "
            "Use + - * / and each number at most once."
        ),
        answer="7*3+50",
        solution="",
    )
    assert task.is_correct("so \\boxed{50 + 3 × 7}", example)
    assert task.is_correct("\\boxed{1} then \\boxed{(7*3)+50}", example)
    assert not task.is_correct("\\boxed{7*3+50} then \\boxed{1}", example)
    assert not task.is_correct("\\boxed{7*3+25+25-4}", example)


class TestNoCodeExecution:

  PAYLOADS = (
      "__import__('os').system('touch SENTINEL')",
      "exec(\"open('SENTINEL','w')\")",
      'eval(\'__import__("os").system("touch SENTINEL")\')',
      "(lambda: open('SENTINEL', 'w'))()",
  )

  def test_payloads_never_run(self, tmp_path, monkeypatch):
    task = countdown.Countdown()
    example = task.example("train", 0)
    task.is_correct(example.solution, example)  # Do the lazy import first.
    monkeypatch.chdir(tmp_path)
    calls = collections.Counter()

    def forbidden(name):
      def fn(*args, **kwargs):
        calls[name] += 1
        raise AssertionError(f"{name} called")

      return fn

    for name in ("eval", "exec"):
      monkeypatch.setattr(builtins, name, forbidden(name))
    for payload in self.PAYLOADS:
      assert countdown.parse_expression(payload) is None
      assert not countdown.verify_countdown(payload, [1, 2, 3], 6)
      assert not countdown.step_is_valid(payload)
      assert not task.is_correct(f"\\boxed{{{payload}}}", example)
    assert not calls
    assert not (tmp_path / "SENTINEL").exists()
