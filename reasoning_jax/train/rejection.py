"""Rejection-sampling SFT (R1 stage 3): the policy's own accepted traces.

K samples per prompt from the current policy, kept when the task's rule
verifier accepts them, deduplicated per prompt, mixed with general data
(reference solutions of the cold-start kind, a ``mix`` share of the kept
count), then SFT on the result from the current policy. The kept set is
written to ``<workdir>/<stage>.jsonl`` (prompt, answer, solution).
"""

import os
import random

import jax

from reasoning_jax.data import tasks
from reasoning_jax.train import sft
from reasoning_jax.verifiers import label


def _key(prompt: str, completion: str) -> tuple[str, str]:
  """Duplicate key: the prompt and the completion with whitespace runs
  collapsed."""
  return prompt, " ".join(completion.split())


class NothingAccepted(RuntimeError):
  """No sample of the rejection-sampling draw was correct."""


def accepted_examples(examples, completions, accepted) -> list[tasks.Example]:
  """SFT examples of the accepted completions, first of each duplicate.

  ``examples[i]``, ``completions[i]``, ``accepted[i]``: one sample each.
  """
  assert len(examples) == len(completions) == len(accepted), (
      len(examples),
      len(completions),
      len(accepted),
  )
  seen, out = set(), []
  for ex, text, ok in zip(examples, completions, accepted):
    key = _key(ex.prompt, text)
    if ok and key not in seen:
      seen.add(key)
      out.append(tasks.Example(ex.prompt, ex.answer, text))
  return out


def mix(kept, general, fraction: float, seed: int) -> list[tasks.Example]:
  """``kept`` plus ``round(fraction * len(kept))`` of ``general`` (drawn
  without replacement), shuffled with ``seed``."""
  rng = random.Random(seed)
  n = min(len(general), round(fraction * len(kept)))
  out = list(kept) + rng.sample(list(general), n)
  rng.shuffle(out)
  return out


def run_rejection(ctx, params, *, stage: str = "rs"):
  """The rejection-sampling SFT stage; returns ``(params, result)``."""
  cfg, c = ctx.config, ctx.config.rs
  problems = [ctx.fresh_example(i) for i in range(c.problems)]
  path = os.path.join(ctx.logdir, f"{stage}.jsonl")
  if os.path.exists(path):  # sampled before a restart: reuse.
    data = tasks.load_examples(path)
    sampled = kept = None
  else:
    traces = label.sample_traces(
        ctx,
        params,
        problems,
        c.samples,
        jax.random.PRNGKey(cfg.seed + 41),
        temperature=c.temperature,
        batch_size=cfg.eval.batch_size - cfg.eval.batch_size % c.samples,
    )
    kept = accepted_examples(
        [problems[i // c.samples] for i in range(len(traces))],
        [t.completion for t in traces],
        [t.correct for t in traces],
    )
    general = [
        ctx.task.example("train", i) for i in range(cfg.sft.num_examples)
    ]
    data = mix(kept, general, c.mix, cfg.seed)
    sampled = len(traces)
    if not kept:
      raise NothingAccepted(
          f"{stage}: no accepted sample among {c.problems} "
          f"problems x {c.samples}; sample more or start "
          "from a stronger policy"
      )
    if jax.process_index() == 0:
      tasks.save_examples(path, data)
  params, result = sft.fine_tune(
      ctx,
      params,
      data,
      stage=stage,
      steps=c.steps,
      learning_rate=c.learning_rate,
  )
  result.update(
      rs_sampled=sampled,
      rs_kept=None if kept is None else len(kept),
      rs_examples=len(data),
  )
  return params, result
