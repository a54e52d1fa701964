"""Tests for reasoning_jax.rewards.answers: hand-worked tables, hostile text."""

import builtins
import fractions
import os

from conftest import timed
import pytest

from reasoning_jax.rewards import answers_match
from reasoning_jax.rewards import extract_answer
from reasoning_jax.rewards import extract_boxed
from reasoning_jax.rewards import normalize_answer
from reasoning_jax.rewards import parse_number

F = fractions.Fraction
MB = 1 << 20
# Generous per-call bound: linear code takes well under it on 1 MB, while a
# quadratic or exponential path would take minutes.


class TestExtractAnswer:

  @pytest.mark.parametrize(
      "text, expected",
      [
          (r"so \boxed{42}", "42"),
          (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
          (r"\boxed{\sqrt{\frac{a}{b}}+1}.", r"\sqrt{\frac{a}{b}}+1"),
          (r"\fbox{7}", "7"),
          (r"\boxed {7}", "7"),
          (r"\boxed{ 3 }", "3"),
          (r"\boxed{1} then \boxed{2}", "2"),  # last box wins.
          (r"\fbox{1} then \boxed{2} then \fbox{3}", "3"),
          (r"\boxed{1} then \boxed{2", "1"),  # unbalanced last box ignored.
          (r"\boxed{1} \boxed{2} \boxed{{3}", "2"),
          (r"\boxed{a{b}", None),  # inner brace closes, the box never does.
          (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces are literal.
          (r"\boxed{\{}", r"\{"),
          (r"\boxed{\}}", r"\}"),
          (
              r"\boxed{a \\}",
              r"a \\",
          ),  # an escaped backslash, then a real brace.
          (r"\boxed{\boxed{5}}", "5"),  # last to open.
          (r"\boxed{ \boxed{3}", "3"),
          (r"\boxed{}", ""),
          ("no box here", None),
          ("", None),
      ],
  )
  def test_boxed(self, text, expected):
    assert extract_boxed(text) == expected
    if expected is not None:
      assert extract_answer(text) == expected

  @pytest.mark.parametrize(
      "text, expected",
      [
          ("The answer is 42.", "42"),
          ("THE ANSWER IS -7", "-7"),
          ("So the answer is: 3.5.\nDone.", "3.5"),
          ("The answer is **12**.", "12"),
          ("answer is 1. Wait, the answer is 2.", "2"),  # last one.
          ("The answer is\n\n 9", "9"),
          (r"The answer is \boxed{3", "\\boxed{3"),  # no complete box.
          (r"The answer is 5. \boxed{6}", "6"),  # a box beats the phrase.
          ("The answer isn't obvious", None),
          ("The answer is", None),
          ("The answer is .", None),
          ("nothing", None),
      ],
  )
  def test_answer_is_fallback(self, text, expected):
    assert extract_answer(text) == expected


class TestNormalizeAnswer:

  @pytest.mark.parametrize(
      "raw, expected",
      [
          (" 42 ", "42"),
          ("$42$", "42"),
          (r"\$1,234.00", "1234"),
          ("1,234,567", "1234567"),
          ("1,23", "1,23"),  # not a thousands grouping.
          ("\u22123", "-3"),
          ("\u20133", "-3"),
          ("5.", "5"),
          ("5.0", "5"),
          ("-5.00", "-5"),
          ("5.50", "5.50"),
          ("10 dollars", "10"),
          ("10 Dollars.", "10"),
          (r"10\text{ meters}", "10"),
          (r"\text{(A)}", "(a)"),
          (r"\mathrm{\text{B}}", "b"),
          ("50%", "50"),
          (r"50\%", "50"),
          (r"90^\circ", "90"),
          (r"90^{\circ}", "90"),
          ("12 cm", "12"),
          ("seconds", "seconds"),  # a unit alone is kept.
          (r"\dfrac{1}{2}", r"\frac{1}{2}"),
          (r"\tfrac{1}{2}", r"\frac{1}{2}"),
          (r"\left( 1, 2 \right)", "(1,2)"),
          (r"x \rightarrow y", r"x\rightarrowy"),  # \right only as a word.
          (r"3\!\,000", "3000"),
          (r"\displaystyle x + 1", "x+1"),
      ],
  )
  def test_table(self, raw, expected):
    assert normalize_answer(raw) == expected

  def test_idempotent(self):
    for raw in ["$\\$1,234.00$", "10 Dollars.", r"\dfrac{1}{2}", "(1, 2)"]:
      once = normalize_answer(raw)
      assert normalize_answer(once) == once


class TestParseNumber:

  @pytest.mark.parametrize(
      "text, expected",
      [
          ("-12", F(-12)),
          ("+7", F(7)),
          ("3.25", F(13, 4)),
          (".5", F(1, 2)),
          ("5.", F(5)),
          ("1/2", F(1, 2)),
          ("-3/4", F(-3, 4)),
          ("2/4", F(1, 2)),
          ("1.5/3", F(1, 2)),
          (r"\frac{1}{2}", F(1, 2)),
          (r"\frac12", F(1, 2)),
          (r"\frac1{3}", F(1, 3)),
          (r"-\frac{3}{4}", F(-3, 4)),
          (r"\frac{-3}{4}", F(-3, 4)),
          (r"\dfrac{0.5}{2}", F(1, 4)),
          ("1e3", F(1000)),
          ("2.5e-1", F(1, 4)),
          ("1" * 100, F(int("1" * 100))),
      ],
  )
  def test_numbers(self, text, expected):
    got = parse_number(text)
    assert isinstance(got, F)
    assert got == expected

  @pytest.mark.parametrize(
      "text",
      [
          "",
          " ",
          "-",
          ".",
          "abc",
          "1/0",
          r"\frac{1}{0}",
          r"\frac{1}{}",
          "1/2/3",
          "3/-4",
          "--1",
          "1e",
          "1e999",
          "1e99999999",
          "1" * 101,
          "0x10",
          "1_000",
          "inf",
          "nan",
          "\u0663",
          "1,000",
          "2^3",
          "9**9",
          r"\frac{1}{2}x",
          r"\frac{a}{b}",
          "1 2",
      ],
  )
  def test_rejects(self, text):
    assert parse_number(text) is None


class TestAnswersMatch:

  @pytest.mark.parametrize(
      "pred, gold, expected",
      [
          ("0.5", "1/2", True),
          (r"\frac{1}{2}", "0.5", True),
          (r"\dfrac{1}{2}", "1/2", True),
          ("$0.50", "1/2", True),
          ("1,000", "1000", True),
          ("5.0", "5", True),
          ("\u22123", "-3", True),
          ("-3", "\u22123", True),
          ("1e3", "1000", True),
          ("33 dollars", "33", True),
          (r"\text{(B)}", "(b)", True),
          ("x + 1", "x+1", True),
          (r"\frac{\sqrt{3}}{2}", r"\dfrac{\sqrt{3}}{2}", True),
          ("1/3", "0.33", False),
          ("12", "13", False),
          ("-3", "3", False),
          ("0.5", "5", False),
          ("1,2", "12", False),
          ("", "0", False),
          ("$ $", "", False),
          ("x", "y", False),
          ("1" * 200, "1" * 199, False),  # too long to parse: string compare.
          ("1" * 200, "1" * 200, True),
      ],
  )
  def test_table(self, pred, gold, expected):
    assert answers_match(pred, gold) is expected

  def test_none_never_matches(self):
    assert answers_match(None, "1") is False
    assert answers_match(None, "") is False


HOSTILE = [
    "{" * MB,
    "}" * MB,
    "\\boxed{" * (MB // 7),
    "\\fbox{" * (MB // 6),
    "\\boxed{{}" * (MB // 9),  # every box has a brace pair, none closes.
    "\\boxed{" + "{}" * (MB // 2),
    "\\boxed{" * (MB // 14) + "}" * (MB // 14),  # deeply nested, balanced.
    "{" * (MB // 2) + "}" * (MB // 2),
    "\\frac{" * (MB // 6),
    "\\text{" * (MB // 6),
    "\\" * MB,
    "$" * MB,
    "9" * MB,
    "1," * (MB // 2),
    "-" + "1" * MB + "/" + "3" * MB,
    "\x00" * MB,
    "\ud800" * MB,
    "answer is" * (MB // 9),
    "answer isa" * (MB // 10),
    " " * MB + "x",
    "10**100000",
    "9^9^9^9",
    "9**9**9**9",
    "1e" + "9" * 10000,
    "1/" + "0" * 10000,
]


def _ids(strings):
  return [repr(s[:12]) + f"x{len(s)}" for s in strings]


@pytest.mark.parametrize("text", HOSTILE, ids=_ids(HOSTILE))
def test_hostile_inputs_are_bounded(text):
  for fn in (extract_answer, extract_boxed):
    got = timed(fn, text)
    assert got is None or isinstance(got, str)
  assert isinstance(timed(normalize_answer, text), str)
  got = timed(parse_number, text)
  assert got is None or isinstance(got, F)
  assert isinstance(timed(answers_match, text, "1"), bool)
  assert isinstance(timed(answers_match, "1", text), bool)
  assert isinstance(timed(answers_match, text, text), bool)


def test_huge_powers_are_not_numbers():
  for text in ["10**100000", "9^9^9^9", "9**9**9**9", "1e99999999"]:
    assert timed(parse_number, text) is None
    assert timed(answers_match, text, "1") is False


def _payloads(sentinel):
  cmd = f"touch {sentinel}"
  return [
      f"__import__('os').system('{cmd}')",
      f'\\boxed{{__import__("os").system("{cmd}")}}',
      f"The answer is __import__('os').system('{cmd}')",
      "().__class__.__base__.__subclasses__()",
      "\\boxed{().__class__.__base__.__subclasses__()}",
      "lambda: 1",
      "\\boxed{lambda: 1}",
      "9**9**9**9",
      "\\boxed{9**9**9**9}",
      f"{{{{ exec('import os; os.system(\"{cmd}\")') }}}}",
  ]


def _forbid(name):
  def fail(*args, **kwargs):
    raise AssertionError(f"{name} called with {args!r} {kwargs!r}")

  return fail


def test_code_payloads_are_never_executed(tmp_path, monkeypatch):
  sentinel = tmp_path / "PWNED_x"
  payloads = _payloads(sentinel)
  for name in ("eval", "exec", "compile"):
    monkeypatch.setattr(builtins, name, _forbid(name))
  monkeypatch.setattr(os, "system", _forbid("os.system"))
  for text in payloads:
    extract_answer(text)
    extract_boxed(text)
    normalize_answer(text)
    parse_number(text)
    parse_number(normalize_answer(text))
    for other in payloads + ["1", "0"]:
      answers_match(text, other)
      answers_match(other, text)
  monkeypatch.undo()
  assert not sentinel.exists()
