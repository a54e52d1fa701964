"""Tests for reasoning_jax.rewards.rule: accuracy and format rewards."""

import builtins
import os

from conftest import timed
import pytest

from reasoning_jax.rewards import accuracy_reward
from reasoning_jax.rewards import format_reward

MB = 1 << 20
GOOD = "<think>\n12+7*3\n= 12+21\n= 33\n</think>\n\\boxed{33}"


class TestAccuracyReward:

  @pytest.mark.parametrize(
      "completion, gold, expected",
      [
          (GOOD, "33", 1.0),
          (GOOD, "34", 0.0),
          (GOOD, "33.0", 1.0),
          ("<think>x</think> \\boxed{\\frac{1}{2}}", "0.5", 1.0),
          ("<think>x</think> \\boxed{1/3}", "0.33", 0.0),
          ("\\boxed{12} hmm, actually \\boxed{13}", "13", 1.0),
          ("\\boxed{12} hmm, actually \\boxed{13}", "12", 0.0),
          ("\\boxed{12} then \\boxed{13", "12", 1.0),
          ("The answer is $1,000$.", "1000", 1.0),
          ("I think 33", "33", 0.0),  # no extractable answer.
          ("", "0", 0.0),
      ],
  )
  def test_table(self, completion, gold, expected):
    assert accuracy_reward(completion, gold) == expected

  def test_returns_float(self):
    assert isinstance(accuracy_reward(GOOD, "33"), float)
    assert isinstance(accuracy_reward("", "33"), float)


class TestFormatReward:

  @pytest.mark.parametrize(
      "completion",
      [
          GOOD,
          "  \n" + GOOD,  # leading whitespace allowed.
          "<think>a</think>\\boxed{1}",
          "<think>a</think> so the answer is \\boxed{\\frac{1}{2}}.",
          "<think>a</think>\\fbox{1}",
      ],
  )
  def test_good(self, completion):
    assert format_reward(completion) == 1.0

  @pytest.mark.parametrize(
      "completion",
      [
          "",
          "\\boxed{33}",  # no think block.
          "<think>a</think><think>b</think>\\boxed{1}",  # two think blocks.
          "<think>a<think>b</think>\\boxed{1}",  # two opening tags.
          "<think>a</think>b</think>\\boxed{1}",  # two closing tags.
          "<think>a\n\\boxed{1}",  # missing close.
          "a</think>\\boxed{1}",  # missing open.
          "</think>a<think>\\boxed{1}",  # tags in the wrong order.
          "\\boxed{1}<think>a</think>",  # answer before think.
          "x <think>a</think>\\boxed{1}",  # text before the think block.
          "<think>a</think>",  # no answer.
          "<think>a</think> the answer is 1",  # answer but not boxed.
          "<think>\\boxed{1}</think>",  # box only inside the thought.
          "<think>a</think>\\boxed{1",  # unbalanced box.
          "<think>a</think>\\boxed{}",  # empty box.
          "<think> \n </think>\\boxed{1}",  # blank thought.
      ],
  )
  def test_bad(self, completion):
    assert format_reward(completion) == 0.0


HOSTILE = [
    "{" * MB,
    "\\boxed{" * (MB // 7),
    "<think>" * (MB // 7),
    "</think>" * (MB // 8),
    "<think>x</think>" + "\\boxed{" * (MB // 7),
    "<think>x</think>" + "\\boxed{{}" * (MB // 9),
    "<think>" + "{" * MB + "</think>\\boxed{1}",
    "\\frac{" * (MB // 6),
    "9" * MB,
    "\x00" * MB,
    "\ud800" * MB,
    "9^9^9^9",
    "10**100000",
]


@pytest.mark.parametrize(
    "text", HOSTILE, ids=[repr(s[:12]) + f"x{len(s)}" for s in HOSTILE]
)
def test_hostile_inputs_are_bounded(text):
  for args in [(text, "1"), ("1", text), (text, text)]:
    got = timed(accuracy_reward, *args)
    assert isinstance(got, float) and got in (0.0, 1.0)
  got = timed(format_reward, text)
  assert isinstance(got, float) and got in (0.0, 1.0)


def test_code_payloads_are_never_executed(tmp_path, monkeypatch):
  sentinel = tmp_path / "PWNED_x"
  cmd = f"touch {sentinel}"
  payloads = [
      f"__import__('os').system('{cmd}')",
      f'<think>x</think>\\boxed{{__import__("os").system("{cmd}")}}',
      "<think>x</think>\\boxed{().__class__.__base__.__subclasses__()}",
      "<think>x</think>\\boxed{lambda: 1}",
      "<think>x</think>\\boxed{9**9**9**9}",
      "The answer is 9**9**9**9",
  ]

  def forbid(*args, **kwargs):
    raise AssertionError(f"called with {args!r} {kwargs!r}")

  for name in ("eval", "exec", "compile"):
    monkeypatch.setattr(builtins, name, forbid)
  monkeypatch.setattr(os, "system", forbid)
  for text in payloads:
    format_reward(text)
    for other in payloads + ["1"]:
      accuracy_reward(text, other)
      accuracy_reward(other, text)
  monkeypatch.undo()
  assert not sentinel.exists()
