r"""A small *base* model of our own, for R1-Zero (RL straight from a base).

Real base models have read some step-by-step text, many bare answers and a
little self-correction, with no instruction format. The corpus here mimics
that on a task's train problems: each document is the problem followed by

- a bare answer (``\boxed{7}``), share ``1 - think``;
- the worked solution (``<think> ... </think> \boxed{7}``), share
  ``think * (1 - reflect)``;
- the worked solution with one wrong step caught and corrected, share
  ``think * reflect``: a step line with one digit changed, then a line
  ``hmm`` (a reflection phrase; "wait" is not expressible in the built-in
  tokenizer, whose corpus has no "w"), then the right step::

    <think>
    6+2
    hmm
    6+1
    7
    </think>
    \boxed{7}

and the loss is on every token (prompt included), as in pretraining. RL
then decides which of these behaviours pay: thinking, its length and the
rate of reflection phrases are tracked over training (``length``,
``think_tokens``, ``reflection_rate``) and after each stage.

Documents come from train indices ``OFFSET + i``, a stretch of the train
stream no other stage draws from.
"""

import dataclasses
import random

from reasoning_jax.data import cold_start
from reasoning_jax.data import tasks
from reasoning_jax.train import sft

OFFSET = 10_000_000
WAIT = "hmm"  # one of train.evaluation.REFLECTION.


def corrupt(line: str, rng: random.Random) -> str:
  """``line`` with one digit changed (to a different digit), or the line
  unchanged when it has no digit."""
  digits = [i for i, ch in enumerate(line) if ch.isdigit()]
  if not digits:
    return line
  i = rng.choice(digits)
  new = rng.choice([d for d in "0123456789" if d != line[i]])
  return line[:i] + new + line[i + 1 :]


def with_reflection(solution: str, rng: random.Random) -> str:
  """The solution with a corrupted copy of one thinking line and a ``WAIT``
  line inserted before that line (see the module docstring)."""
  head, sep, rest = solution.partition("<think>\n")
  body, close, tail = rest.partition("\n</think>")
  lines = body.split("\n")
  if not sep or not close or not body:
    return solution
  k = rng.randrange(len(lines))
  lines[k:k] = [corrupt(lines[k], rng), WAIT]
  return head + sep + "\n".join(lines) + close + tail


def document(
    example: tasks.Example, kind: str, rng: random.Random
) -> tasks.Example:
  """``example`` with its completion replaced by the ``kind`` of text:
  ``answer``, ``think`` or ``reflect``."""
  text = {
      "answer": lambda: cold_start.bare_answer(example),
      "think": lambda: example.solution,
      "reflect": lambda: with_reflection(example.solution, rng),
  }[kind]()
  return dataclasses.replace(example, solution=text)


def corpus(
    task: tasks.Task, n: int, think: float, reflect: float, seed: int
) -> list[tasks.Example]:
  """``n`` base-model documents (see the module docstring)."""
  assert n > 0 and 0 <= think <= 1 and 0 <= reflect <= 1, (n, think, reflect)
  rng = random.Random(seed)
  out = []
  for i in range(n):
    u = rng.random()
    kind = (
        "answer"
        if u >= think
        else "reflect"
        if u < think * reflect
        else "think"
    )
    out.append(document(task.example("train", OFFSET + i), kind, rng))
  return out


def run_pretrain(ctx, params, *, stage: str = "pretrain"):
  """The pretraining stage: next-token loss on ``corpus`` (all tokens);
  returns ``(params, result)`` with the base model's held-out evaluation."""
  cfg, c = ctx.config, ctx.config.pretrain
  docs = corpus(ctx.task, c.num_examples, c.think, c.reflect, cfg.seed)
  return sft.fine_tune(
      ctx,
      params,
      docs,
      stage=stage,
      steps=c.steps,
      learning_rate=c.learning_rate,
      prompt_loss=True,
  )
