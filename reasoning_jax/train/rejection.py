"""Rejection-sampling SFT (R1 stage 3): the policy's own accepted traces.

K samples per prompt from the current policy, kept when the task's rule
verifier accepts them, deduplicated per prompt, mixed with general data
(reference solutions of the cold-start kind, a ``mix`` share of the kept
count), then SFT on the result from the current policy. The kept set is
written to ``<workdir>/<stage>.jsonl`` (prompt, answer, solution).
"""

import dataclasses
import json
import os
import random

import ml_collections

from reasoning_jax.data import tasks


def _key(prompt: str, completion: str) -> tuple[str, str]:
  """Duplicate key: the prompt and the completion with whitespace runs
  collapsed."""
  return prompt, " ".join(completion.split())


def accepted_examples(examples, completions, accepted) -> list[tasks.Example]:
  """SFT examples of the accepted completions, first of each duplicate.

  ``examples[i]``, ``completions[i]``, ``accepted[i]``: one sample each.
  """
  assert len(examples) == len(completions) == len(accepted), (
      len(examples), len(completions), len(accepted))
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


def run_rejection(ctx, params, stage: str = "rs"):
  """The rejection-sampling SFT stage; returns ``(params, result)``."""
  import jax  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import sft  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import label  # pylint: disable=g-import-not-at-top
  cfg, c = ctx.config, ctx.config.rs
  first = ctx.fresh_train_index  # past the cold-start problems.
  problems = [ctx.task.example("train", first + i) for i in range(c.problems)]
  path = os.path.join(ctx.logdir, f"{stage}.jsonl")
  if os.path.exists(path):  # sampled before a restart: reuse.
    with open(path, encoding="utf-8") as f:
      data = [tasks.Example(**json.loads(line)) for line in f]
    sampled = kept = None
  else:
    traces = label.sample_traces(
        ctx, params, problems, c.samples, jax.random.PRNGKey(cfg.seed + 41),
        temperature=c.temperature,
        batch_size=cfg.eval.batch_size - cfg.eval.batch_size % c.samples)
    kept = accepted_examples([problems[i // c.samples]
                              for i in range(len(traces))],
                             [t.completion for t in traces],
                             [t.correct for t in traces])
    general = [ctx.task.example("train", i)
               for i in range(cfg.sft.num_examples)]
    data = mix(kept, general, c.mix, cfg.seed)
    sampled = len(traces)
    if not kept:
      raise RuntimeError(f"{stage}: no accepted sample among {c.problems} "
                         f"problems x {c.samples}; sample more or start "
                         "from a stronger policy")
    if jax.process_index() == 0:
      os.makedirs(ctx.logdir, exist_ok=True)
      with open(path, "w", encoding="utf-8") as f:
        for ex in data:
          f.write(json.dumps(dataclasses.asdict(ex)) + "\n")
  over = ml_collections.ConfigDict(cfg.to_dict())
  over.sft.update(steps=c.steps, learning_rate=c.learning_rate,
                  warmup_steps=max(1, c.steps // 10))
  params, result = sft.run_sft(dataclasses.replace(ctx, config=over), params,
                               data, stage=stage)
  result.update(rs_sampled=sampled, rs_kept=None if kept is None
                else len(kept), rs_examples=len(data))
  return params, result
