"""Sampling traces and Math-Shepherd step labels with the jitted sampler.

Both batch over everything at once: ``sample_traces`` draws ``n`` samples of
each problem (prefix-shared groups), ``math_shepherd`` K continuations of
every step prefix of every trace, all through ``sampling.generate.generate``
(fixed-size batches, one compile per prompt width).
"""

import jax
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.data import tasks
from reasoning_jax.rewards.answers import think_steps
from reasoning_jax.sampling import generate as generate_lib
from reasoning_jax.verifiers.steps import exact_labels
from reasoning_jax.verifiers.steps import Trace


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
      out.append(completion[: end + 1] if nl >= 0 else completion[:close])
    pos = end + 1
  return out


def _example(t: Trace) -> tasks.Example:
  return tasks.Example(prompt=t.prompt, answer=t.answer, solution="")


def sample_traces(
    ctx, params, examples, n: int, rng, *, temperature: float, batch_size: int
) -> list[Trace]:
  """``n`` sampled completions per example, with outcome and exact labels."""
  sample_fn = ctx.sampler(group_size=n)
  prompts = [encoding.prompt_text(ex) for ex in examples for _ in range(n)]
  texts = generate_lib.generate(
      sample_fn,
      params,
      ctx.tok,
      prompts,
      rng,
      max_prompt_len=ctx.config.data.max_prompt_len,
      batch_size=batch_size - batch_size % n,
      temperature=temperature,
  ).texts
  out = []
  for i, text in enumerate(texts):
    ex = examples[i // n]
    steps = think_steps(text)
    out.append(
        Trace(
            prompt=ex.prompt,
            answer=ex.answer,
            completion=text,
            correct=int(ctx.task.is_correct(text, ex)),
            steps=steps,
            exact=exact_labels(ctx.task, ex, steps),
        )
    )
  return out


def policy_completer(
    ctx,
    params,
    rng,
    *,
    temperature: float,
    batch_size: int,
    group_size: int,
    stop_ids=(),
    with_logprob: bool = False
):
  """``complete(prompts) -> continuations`` by the jitted sampler.

  Prompts may hold a completion prefix, so they get ``max_prompt_len +
  max_new_tokens`` slots; each call draws a fresh key. ``group_size`` rows
  in a row must share a prompt (prefix sharing: a parent's prefix is
  prefilled once for its ``group_size`` children). ``stop_ids`` end a row
  early (besides the eos), e.g. the newline for one step at a time. With
  ``with_logprob`` it returns ``(texts, logprob [n])``, each continuation's
  Σ log π(token) at temperature 1 over the sampled tokens' logits.
  """
  sample_fn = ctx.sampler(group_size=group_size, stop_ids=stop_ids)
  width = ctx.config.data.max_prompt_len + ctx.config.data.max_new_tokens
  keys = iter(jax.random.split(rng, 1 << 16))

  def complete(prompts: list[str]) -> list[str]:
    g = generate_lib.generate(
        sample_fn,
        params,
        ctx.tok,
        prompts,
        next(keys),
        max_prompt_len=width,
        batch_size=batch_size - batch_size % group_size,
        temperature=temperature,
    )
    return (g.texts, g.logprob) if with_logprob else g.texts

  return complete


def math_shepherd(
    complete, traces: list[Trace], k: int, is_correct
) -> list[Trace]:
  """Adds soft/hard Math-Shepherd labels to each trace (new objects).

  For step prefix j of a trace, ``complete`` (the policy) continues the
  prompt + prefix K times, all prefixes of all traces in one call; soft_j is
  the fraction of continuations whose full text (prefix + continuation)
  ``is_correct(text, example)`` accepts, hard_j is soft_j > 0. A trace whose
  text steps and prefixes disagree keeps ``soft = hard = None``.
  """
  items = []  # (trace index, prefix)
  for i, t in enumerate(traces):
    pre = step_prefixes(t.completion)
    if len(pre) == len(t.steps):
      items += [(i, p) for p in pre]
  prompts = [
      encoding.prompt_text(_example(traces[i])) + p
      for i, p in items
      for _ in range(k)
  ]
  texts = complete(prompts) if prompts else []
  assert len(texts) == len(prompts), (len(texts), len(prompts))
  ok = np.asarray(
      [
          is_correct(
              items[j // k][1] + cont, _example(traces[items[j // k][0]])
          )
          for j, cont in enumerate(texts)
      ],
      np.float32,
  )
  soft = ok.reshape(-1, k).mean(1) if len(ok) else ok
  out = [Trace(**{**t.__dict__, "soft": None, "hard": None}) for t in traces]
  for (i, _), s in zip(items, soft):
    t = out[i]
    if t.soft is None:
      t.soft, t.hard = [], []
    t.soft.append(float(s))
    t.hard.append(int(s > 0))
  return out
