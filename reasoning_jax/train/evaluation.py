"""Held-out evaluation: batched sampling + the task's exact verifier.

Sampling runs in fixed-size batches (the last one padded by repeating
prompts) so one compiled sampler serves any number of problems. Scoring reads
text, so it runs on the host, never under jit.
"""

import re

import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.parallel import multihost
from reasoning_jax.rewards import format_reward
from reasoning_jax.sampling.generate import generate
from reasoning_jax.search import metrics


def score(task, texts: list[str], examples):
  """Verifier accuracy and format reward per text: two float32 [N] arrays."""
  correct = np.asarray(
      [task.is_correct(t, ex) for t, ex in zip(texts, examples)], np.float32
  )
  return correct, np.asarray([format_reward(t) for t in texts], np.float32)


SUMMARY_KEYS = (
    "pass@1",
    "format",
    "think",
    "length",
    "truncated",
    "reflection",
)
REFLECTION = ("wait", "let me check", "actually", "hmm", "double-check")


_REFLECTION_RE = re.compile(
    r"\b(" + "|".join(map(re.escape, REFLECTION)) + r")\b", re.IGNORECASE
)


def has_reflection(text: str) -> bool:
  """A reflection phrase (R1's "aha" signal): any of ``REFLECTION``,
  case-insensitive, as a whole word."""
  return _REFLECTION_RE.search(text) is not None


def opens_think(text: str) -> bool:
  """The completion starts (after whitespace) with a ``<think>`` block: it
  works the problem out rather than stating an answer at once."""
  return text.lstrip().startswith("<think>")


def reflection_rate(texts) -> float:
  """Share of completions with a reflection phrase (``has_reflection``)."""
  texts = list(texts)
  return sum(map(has_reflection, texts)) / len(texts) if texts else 0.0


def held_out_results(
    sample_fn,
    params,
    tok,
    task,
    examples,
    rng,
    *,
    max_prompt_len: int,
    batch_size: int,
    batch_sharding=None,
    prefill: str = "",
) -> dict:
  """pass@1 (one sample per problem from ``sample_fn``) and format stats.

  The ``SUMMARY_KEYS`` are floats over all problems (every process scores
  its own rows, then the verdicts are gathered); ``correct`` is the
  per-problem [N] 0/1 array (for paired comparisons) and ``texts`` this
  process's completions, keyed by problem index. A task with
  ``difficulty_of(example)`` adds ``by_difficulty`` (pass@1 per level).
  ``prefill`` is written after each prompt and starts every completion
  (e.g. ``"<think>\n"``: thinking forced at test time, no training).
  """
  prompts = [encoding.prompt_text(ex) + prefill for ex in examples]
  texts, lengths, truncated, rows, _ = generate(
      sample_fn,
      params,
      tok,
      prompts,
      rng,
      max_prompt_len=max_prompt_len,
      batch_size=batch_size,
      batch_sharding=batch_sharding,
  )
  texts = [prefill + t for t in texts]
  correct, fmt = score(task, texts, [examples[i] for i in rows])
  think = np.asarray([opens_think(t) for t in texts], np.float32)
  per_problem = np.stack([correct, fmt, think, lengths, truncated], 1)
  if batch_sharding is not None:
    per_problem = _gather_problems(
        per_problem, rows, len(examples), batch_sharding, batch_size
    )
  correct, fmt, think, lengths, truncated = per_problem.T
  out = {
      "pass@1": float(correct.mean()),
      "format": float(fmt.mean()),
      "think": float(think.mean()),
      "length": float(lengths.mean()),
      "truncated": float(truncated.mean()),
      "reflection": reflection_rate(texts),  # this process's rows.
      "num_problems": len(examples),
      "correct": correct,
      "texts": dict(zip(rows.tolist(), texts)),
  }
  if hasattr(task, "difficulty_of"):
    out["by_difficulty"] = by_difficulty(
        correct, [task.difficulty_of(ex) for ex in examples]
    )
  return out


def sampled_pass_at_k(
    sample_fn,
    params,
    tok,
    task,
    examples,
    rng,
    *,
    n: int,
    temperature: float,
    max_prompt_len: int,
    batch_size: int,
    prefill: str = "",
) -> dict:
  """Unbiased pass@k (Chen et al. 2021) for k = 1, 2, 4, ..., n from ``n``
  samples per problem at ``temperature`` (``sample_fn`` samples groups of
  ``n``: each prompt's prefill is shared; ``prefill`` text, as in
  ``held_out_results``, starts every completion). Returns ``{"pass@k": {k: mean},
  "num_correct": [Q] correct samples per problem, "n": n}``; a problem's
  pass@k is ``metrics.pass_at_k(n, c, k)``, so two policies compare per
  problem. One process (the samples are not gathered)."""
  prompts = [
      encoding.prompt_text(ex) + prefill for ex in examples for _ in range(n)
  ]
  texts = generate(
      sample_fn,
      params,
      tok,
      prompts,
      rng,
      max_prompt_len=max_prompt_len,
      batch_size=batch_size - batch_size % n,
      temperature=temperature,
  ).texts
  texts = [prefill + t for t in texts]
  ok = np.asarray(
      [task.is_correct(t, examples[i // n]) for i, t in enumerate(texts)]
  ).reshape(len(examples), n)
  c = ok.sum(1)
  ks = [2**i for i in range(n.bit_length()) if 2**i <= n]
  return {
      "pass@k": {  # keys are strings, as a JSON record reads back.
          str(k): float(np.mean([metrics.pass_at_k(n, int(ci), k) for ci in c]))
          for k in ks
      },
      "num_correct": c.tolist(),
      "n": n,
  }


def stage_result(r: dict) -> dict:
  """What a stage reports of a ``held_out_results`` result: the ``SUMMARY_KEYS``,
  ``num_problems`` and, when the task has levels, ``by_difficulty``."""
  out = {k: r[k] for k in SUMMARY_KEYS + ("num_problems",)}
  if "by_difficulty" in r:
    out["by_difficulty"] = dict(r["by_difficulty"])
  return out


def flat_metrics(result: dict, prefix: str) -> dict:
  """``{prefix/key: number}`` of a stage result for the metric writer;
  ``by_difficulty`` becomes ``prefix/pass@1_d<level>``."""
  out = {
      f"{prefix}/{k}": v
      for k, v in result.items()
      if isinstance(v, (int, float))
  }
  for level, v in result.get("by_difficulty", {}).items():
    out[f"{prefix}/pass@1_d{level}"] = v
  return out


def by_difficulty(correct_n, levels_n) -> dict[str, float]:
  """pass@1 per difficulty level: ``{str(level): mean verdict}``."""
  correct, levels = np.asarray(correct_n), np.asarray(levels_n)
  assert correct.shape == levels.shape, (correct.shape, levels.shape)
  return {
      str(k): float(correct[levels == k].mean())
      for k in sorted(set(levels.tolist()))
  }


def _gather_problems(local, rows, n, batch_sharding, batch_size):
  """[n, F] per-problem values from every process's rows (host arrays)."""
  mine = multihost.process_rows(batch_sharding, batch_size)
  n_batches = -(-n // batch_size)
  full = np.zeros(
      (n_batches, mine.stop - mine.start, local.shape[1]), np.float32
  )
  idx = rows - (rows // batch_size) * batch_size - mine.start
  full[rows // batch_size, idx] = local
  # Rows are gathered batch by batch in the sampler's row order.
  out = np.concatenate(
      [
          multihost.allgather(full[b], batch_sharding, batch_size)
          for b in range(n_batches)
      ],
      0,
  )
  return out[:n]
