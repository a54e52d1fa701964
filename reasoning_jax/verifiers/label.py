"""Sampling traces and Math-Shepherd step labels with the jitted sampler.

Both batch over everything at once: ``sample_traces`` draws ``n`` samples of
each problem (prefix-shared groups), ``math_shepherd`` K continuations of
every step prefix of every trace, all through ``train.evaluate.generate``
(fixed-size batches, one compile per prompt width).
"""

import numpy as np

from reasoning_jax.data import encoding, tasks
from reasoning_jax.data.arith import think_steps
from reasoning_jax.train import evaluate as evaluate_lib
from reasoning_jax.verifiers.steps import Trace, exact_labels


def step_prefixes(completion: str) -> list[str]:
  """Completion text up to and including each step line (and its newline).

  Step k's prefix ends right after the newline closing the k-th non-blank
  line inside ``<think>`` (or at ``</think>`` when that line has none), so a
  continuation sampled from it starts the next step.
  """
  start = completion.find("<think>")
  close = completion.find("</think>", start + 1)
  if start < 0 or close < 0:
    return []
  out, pos = [], start + len("<think>")
  while pos < close:
    nl = completion.find("\n", pos, close)
    end = close if nl < 0 else nl
    if completion[pos:end].strip():
      out.append(completion[:end + 1] if nl >= 0 else completion[:close])
    pos = end + 1
  return out


def _example(t: Trace) -> tasks.Example:
  return tasks.Example(prompt=t.prompt, answer=t.answer, solution="")


def sample_traces(ctx, params, examples, n: int, rng, *, temperature: float,
                  batch_size: int) -> list[Trace]:
  """``n`` sampled completions per example, with outcome and exact labels."""
  sample_fn = ctx.sampler(group_size=n)
  prompts = [encoding.prompt_text(ex) for ex in examples for _ in range(n)]
  texts, _, _, _ = evaluate_lib.generate(
      sample_fn, params, ctx.tok, prompts, rng,
      max_prompt_len=ctx.config.data.max_prompt_len,
      batch_size=batch_size - batch_size % n, temperature=temperature)
  out = []
  for i, text in enumerate(texts):
    ex = examples[i // n]
    steps = think_steps(text)
    out.append(Trace(prompt=ex.prompt, answer=ex.answer, completion=text,
                     correct=int(ctx.task.is_correct(text, ex)), steps=steps,
                     exact=exact_labels(ctx.task, ex, steps)))
  return out


def math_shepherd(ctx, params, traces: list[Trace], k: int, rng, *,
                  temperature: float, batch_size: int) -> list[Trace]:
  """Adds soft/hard Math-Shepherd labels to each trace (new objects).

  For step prefix j of a trace, K continuations are sampled; soft_j is the
  fraction whose full text (prefix + continuation) the task verifies, hard_j
  is soft_j > 0. A trace whose text steps and prefixes disagree keeps
  ``soft = hard = None``.
  """
  items = []  # (trace index, prompt text)
  for i, t in enumerate(traces):
    pre = step_prefixes(t.completion)
    if len(pre) != len(t.steps):
      continue
    items += [(i, encoding.prompt_text(_example(t)) + p) for p in pre]
  width = ctx.config.data.max_prompt_len + ctx.config.data.max_new_tokens
  sample_fn = ctx.sampler(group_size=k)
  texts, _, _, _ = evaluate_lib.generate(
      sample_fn, params, ctx.tok, [p for _, p in items for _ in range(k)],
      rng, max_prompt_len=width, batch_size=batch_size - batch_size % k,
      temperature=temperature)
  ok = np.zeros(len(items) * k, np.float32)
  for j, cont in enumerate(texts):
    i, prompt = items[j // k]
    prefix = prompt[len(encoding.prompt_text(_example(traces[i]))):]
    ok[j] = ctx.task.is_correct(prefix + cont, _example(traces[i]))
  soft = ok.reshape(-1, k).mean(1)
  out = [Trace(**{**t.__dict__}) for t in traces]
  j = 0
  for i, _ in items:
    t = out[i]
    if t.soft is None:
      t.soft, t.hard = [], []
    t.soft.append(float(soft[j]))
    t.hard.append(int(soft[j] > 0))
    j += 1
  return out
