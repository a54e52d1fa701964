r"""Rule-based rewards for reasoning completions, computed on the host.

A well-formed completion is one ``<think>`` block followed by a boxed answer:

  <think>
  12+7*3 = 12+21 = 33
  </think>
  \boxed{33}

Rewards are floats in {0.0, 1.0}; they read model text and never execute it.
"""

from reasoning_jax.rewards import answers

_OPEN, _CLOSE = "<think>", "</think>"


def accuracy_reward(completion: str, gold: str) -> float:
  """1.0 iff the completion's extracted final answer matches ``gold``."""
  pred = answers.extract_answer(completion)
  return 1.0 if answers.answers_match(pred, gold) else 0.0


def format_reward(completion: str) -> float:
  r"""1.0 iff ``completion`` is one think block then a boxed answer.

  Leading whitespace is allowed; then ``<think>``, a non-blank thought,
  ``</think>``, and after it a complete non-empty ``\boxed{..}``. Each tag must
  occur exactly once.
  """
  text = completion.lstrip()
  if (
      not text.startswith(_OPEN)
      or text.count(_OPEN) != 1
      or text.count(_CLOSE) != 1
  ):
    return 0.0
  close = text.find(_CLOSE)
  if not text[len(_OPEN) : close].strip():
    return 0.0
  boxed = answers.extract_boxed(text[close + len(_CLOSE) :])
  return 1.0 if boxed else 0.0


def consistency_reward(completion: str, is_step) -> float:
  """Share of thinking lines written in the task's step language.

  R1's language-consistency reward is the share of chain-of-thought words
  in the target language; here the "language" is the task's step syntax:
  ``is_step(line)`` (``task.step_is_wellformed``) over the non-blank lines
  between ``<think>`` and ``</think>``. 0.0 without a thinking block.
  """
  start = completion.find(_OPEN)
  end = completion.find(_CLOSE, start + 1)
  if start < 0 or end < 0:
    return 0.0
  lines = [
      ln.strip()
      for ln in completion[start + len(_OPEN) : end].split("\n")
      if ln.strip()
  ]
  return sum(map(bool, map(is_step, lines))) / len(lines) if lines else 0.0
