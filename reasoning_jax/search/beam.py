"""Verifier-guided step-level beam search, batched over problems and beams.

Each round expands every unfinished beam of every problem into k candidate
next steps with one call of the policy, scores every child with one call of
the verifier, and keeps per problem the ``width`` best among its finished
beams and the new children by cumulative log-score Σ log v(step). It stops
when every beam has finished or after ``max_steps`` rounds. The search
bookkeeping is host-side; both model calls are batched (the callers use the
jitted sampler and scorer).
"""

import dataclasses
import functools
import math
from typing import Callable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Beam:
  text: str  # completion so far (whole steps).
  score: float  # Σ log v over its steps.
  done: bool


def beam_search(expand: Callable[[Sequence[tuple[int, str]], int],
                                 list[list[str]]],
                score: Callable[[Sequence[tuple[int, str]]], np.ndarray],
                num_problems: int, *, width: int, expand_k: int,
                max_steps: int, is_done: Callable[[str], bool]
                ) -> tuple[list[Beam], int]:
  """Best beam per problem, and the number of children scored.

  ``expand(items, k)``: for each ``(problem, prefix)`` a list of k next-step
  texts (duplicates are dropped). ``score(items)``: for each ``(problem,
  text)`` the verifier's probability in (0, 1] that the last step is on
  track. ``is_done(text)``: the completion has ended. Ties keep the
  earlier beam.
  """
  beams = [[Beam("", 0.0, False)] for _ in range(num_problems)]
  scored = 0
  for _ in range(max_steps):
    active = [(q, b) for q in range(num_problems) for b in beams[q]
              if not b.done]
    if not active:
      break
    steps = expand([(q, b.text) for q, b in active], expand_k)
    assert len(steps) == len(active), (len(steps), len(active))
    children, seen = [], set()
    for (q, parent), cands in zip(active, steps):
      for step in cands:
        text = parent.text + step
        if (q, text) not in seen:
          seen.add((q, text))
          children.append((q, parent, text))
    values = np.asarray(score([(q, t) for q, _, t in children]), np.float64)
    scored += len(children)
    pool = [[b for b in beams[q] if b.done] for q in range(num_problems)]
    for (q, parent, text), v in zip(children, values):
      pool[q].append(Beam(text, parent.score + math.log(max(v, 1e-30)),
                          is_done(text)))
    beams = [sorted(p, key=lambda b: -b.score)[:width] for p in pool]
  best = [max(bs, key=lambda b: (b.done, b.score)) for bs in beams]
  return best, scored


def is_done(text: str) -> bool:
  """A completion has ended when its last step did not end with a newline
  (the sampler stopped at the eos, or at the token budget)."""
  return bool(text) and not text.endswith("\n")


def policy_expander(ctx, params, examples, rng, *, temperature: float,
                    batch_size: int, k: int):
  """``expand`` for ``beam_search``: k sampled next steps per prefix.

  One batched sampler call per round over every (problem, beam) prefix
  (``label.policy_completer``), stopping each row at a newline or the eos.
  """
  from reasoning_jax.data import encoding  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import label  # pylint: disable=g-import-not-at-top
  complete = label.policy_completer(
      ctx, params, rng, temperature=temperature, batch_size=batch_size,
      group_size=k, stop_ids=(ctx.tok.piece_id("\n"),))

  def expand(items, kk):
    assert kk == k, (kk, k)
    texts = complete([encoding.prompt_text(examples[q]) + prefix
                      for q, prefix in items for _ in range(k)])
    return [texts[i * k:(i + 1) * k] for i in range(len(items))]
  return expand


def prm_step_scorer(ctx, score_steps, prm_params, examples, *,
                    max_steps: int):
  """``score`` for ``beam_search``: the PRM's probability at the last step
  boundary of each partial completion (1 when it has no step yet).

  A partial completion is scored with ``</think>`` appended: boundaries need
  a closed think block, and a causal PRM's score at a boundary does not
  depend on what follows it.
  """
  from reasoning_jax.data.arith import think_steps  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import reward_model  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import steps as steps_lib  # pylint: disable=g-import-not-at-top

  def score(items):
    traces = []
    for q, text in items:
      full = text if "</think>" in text else text + "</think>"
      st = think_steps(full)
      traces.append(steps_lib.Trace(examples[q].prompt, examples[q].answer,
                                    full, 0, st, [0] * len(st)))
    sb = steps_lib.encode_traces(
        ctx.tok, traces, prompt_len=ctx.config.data.max_prompt_len,
        completion_len=ctx.config.data.max_new_tokens, max_steps=max_steps)
    s, ok = reward_model.chunked(functools.partial(score_steps, prm_params),
                                 sb.ids, sb.valid, sb.boundary)
    n = ok.sum(1)
    return np.where(n > 0, s[np.arange(len(n)), np.maximum(n - 1, 0)], 1.0)
  return score
