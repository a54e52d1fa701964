"""Verifier-guided step-level search, batched over problems and beams.

Each round expands every unfinished beam of every problem into k candidate
next steps with one call of the policy, scores every child with one call of
the verifier, and keeps per problem the ``width`` best among its finished
beams and the new children. It stops when every beam has finished or after
``max_steps`` rounds. The search bookkeeping is host-side; both model calls
are batched (the callers use the jitted sampler and scorer).

Two rankings: **beam search** (``cumulative=True``) ranks by the cumulative
log-score Σ log v(step) of a PRM's per-step scores; **Tree of Thoughts**
(Yao et al. 2023, breadth-first; ``cumulative=False``) ranks by the
evaluator's value of the whole state, log v(state), so any verifier of the
shared interface (ORM, PRM with an aggregation, the generative verifier)
can be the evaluator.
"""

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.rewards.answers import think_steps
from reasoning_jax.verifiers import label
from reasoning_jax.verifiers import steps as steps_lib


@dataclasses.dataclass(frozen=True)
class Beam:
  text: str  # completion so far (whole steps).
  score: float  # Σ log v over its steps.
  done: bool


def beam_search(
    expand: Callable[[Sequence[tuple[int, str]], int], list[list[str]]],
    score: Callable[[Sequence[tuple[int, str]]], np.ndarray],
    num_problems: int,
    *,
    width: int,
    expand_k: int,
    max_steps: int,
    is_done: Callable[[str], bool],
    cumulative: bool = True
) -> tuple[list[Beam], int]:
  """Best beam per problem, and the number of children scored.

  ``expand(items, k)``: for each ``(problem, prefix)`` a list of k next-step
  texts (duplicates are dropped). ``score(items)``: for each ``(problem,
  text)`` the verifier's probability in (0, 1] that the last step is on
  track (``cumulative``) or that the state is on track (not). ``is_done
  (text)``: the completion has ended. Ties keep the earlier beam.
  """
  beams = [[Beam("", 0.0, False)] for _ in range(num_problems)]
  scored = 0
  for _ in range(max_steps):
    active = [
        (q, b) for q in range(num_problems) for b in beams[q] if not b.done
    ]
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
      logv = math.log(max(v, 1e-30))
      pool[q].append(
          Beam(text, parent.score * cumulative + logv, is_done(text))
      )
    beams = [sorted(p, key=lambda b: -b.score)[:width] for p in pool]
  best = [max(bs, key=lambda b: (b.done, b.score)) for bs in beams]
  return best, scored


def tree_of_thoughts(
    expand,
    evaluate,
    num_problems: int,
    *,
    breadth: int,
    k: int,
    max_steps: int,
    is_done
):
  """Tree of Thoughts, breadth-first: k thoughts (steps) per kept state, the
  ``breadth`` states of highest value v(state) kept per level."""
  return beam_search(
      expand,
      evaluate,
      num_problems,
      width=breadth,
      expand_k=k,
      max_steps=max_steps,
      is_done=is_done,
      cumulative=False,
  )


def is_done(text: str) -> bool:
  """A completion has ended when its last step did not end with a newline
  (the sampler stopped at the eos, or at the token budget)."""
  return bool(text) and not text.endswith("\n")


def policy_expander(
    ctx,
    params,
    examples,
    rng,
    *,
    temperature: float,
    batch_size: int,
    k: int,
    with_logprob: bool = False
):
  """``expand`` for the searches: k sampled next steps per prefix.

  One batched sampler call per round over every (problem, beam) prefix
  (``label.policy_completer``; a parent's prefix is prefilled once for its k
  children), stopping each row at a newline or the eos. With
  ``with_logprob`` each item gets ``(texts, logprobs)`` (for MCTS priors).
  """
  complete = label.policy_completer(
      ctx,
      params,
      rng,
      temperature=temperature,
      batch_size=batch_size,
      group_size=k,
      stop_ids=(ctx.tok.piece_id("\n"),),
      with_logprob=True,
  )

  def expand(items, kk):
    assert kk == k, (kk, k)
    texts, logp = complete([
        encoding.prompt_text(examples[q]) + prefix
        for q, prefix in items
        for _ in range(k)
    ])
    rows = [slice(i * k, (i + 1) * k) for i in range(len(items))]
    if with_logprob:
      return [(texts[r], logp[r]) for r in rows]
    return [texts[r] for r in rows]

  return expand


def state_scorer(ctx, verifier, examples, *, max_steps: int):
  """``score`` for the searches: any verifier of the shared interface
  (``(StepBatch) -> [B]``) on partial completions ``(problem, text)``.

  A partial completion is scored with ``</think>`` appended: step
  boundaries need a closed think block, and a causal verifier's score at a
  boundary does not depend on what follows it. A state with no step yet
  scores 1 (no evidence against it).
  """

  def score(items):
    traces = []
    for q, text in items:
      full = text if "</think>" in text else text + "</think>"
      st = think_steps(full)
      traces.append(
          steps_lib.Trace(
              examples[q].prompt, examples[q].answer, full, 0, st, [0] * len(st)
          )
      )
    sb = steps_lib.encode_traces(
        ctx.tok,
        traces,
        prompt_len=ctx.config.data.max_prompt_len,
        completion_len=ctx.config.data.max_new_tokens,
        max_steps=max_steps,
    )
    has_step = np.asarray(sb.step_valid[:, :max_steps]).any(1)
    return np.where(has_step, np.asarray(verifier(sb), np.float64), 1.0)

  return score
