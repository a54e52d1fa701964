"""Rollouts: P prompts × G samples through the jitted sampler, scored on host.

Dimensions: P prompts, G samples per prompt, B = P*G sequences
(group-contiguous: rows g*... of one prompt are adjacent), Pl prompt slots,
N new tokens.

Rewards read text, so they run on the host after one device→host copy per
rollout, never under jit. With dynamic sampling (DAPO, Yu et al. 2025) groups
whose rewards are all equal carry no GRPO signal; they are dropped and fresh
prompts are drawn until P groups with spread are collected (or ``max_draws``
rollout calls were made), and the number of draws is reported.
"""

import dataclasses
import time

import jax
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.train import evaluate


@dataclasses.dataclass
class Rollout:
  prompt_ids: np.ndarray  # [B, Pl] int32, left-padded.
  prompt_valid: np.ndarray  # [B, Pl] bool
  tokens: np.ndarray  # [B, N] int32 completions, pad after the stop.
  mask: np.ndarray  # [B, N] bool, generated tokens.
  rewards: np.ndarray  # [B] float32, shaped reward used for advantages.
  correct: np.ndarray  # [B] float32, verifier accuracy.
  formatted: np.ndarray  # [B] float32, format reward.
  truncated: np.ndarray  # [B] bool, no stop token within N.
  think_tokens: np.ndarray  # [B] int32, tokens up to and including </think>.
  draws: int  # rollout calls it took (1 without dynamic sampling).
  seconds: float  # wall time of sampling + scoring.


def overlong_penalty(lengths_b, *, max_len: int, buffer: int):
  """DAPO soft overlong punishment: 0 up to ``max_len - buffer`` tokens,
  then falling linearly to −1 at ``max_len``."""
  if buffer <= 0:
    return np.zeros_like(lengths_b, np.float32)
  over = np.asarray(lengths_b, np.float32) - (max_len - buffer)
  return -np.clip(over / buffer, 0.0, 1.0)


def group_has_spread(rewards_b, group_size: int):
  """[P] bool: the group's rewards are not all equal (it carries signal)."""
  r = np.asarray(rewards_b).reshape(-1, group_size)
  return r.max(1) > r.min(1)


def _score(ctx, examples, out, group_size, rc):
  """Rewards and statistics of one sampled batch (host side)."""
  texts, lengths, truncated = evaluate.decode_completions(ctx.tok, out)
  correct, formatted = evaluate.score(
      ctx.task, texts, [examples[i // group_size] for i in range(len(texts))])
  think_close = ctx.tok.piece_id("</think>")
  think = np.asarray([  # tokens up to and including the first </think>.
      int(np.argmax(row[:n] == think_close)) + 1 if (row[:n] == think_close
                                                    ).any() else n
      for row, n in zip(out.tokens, lengths)], np.int32)
  rewards = (rc.accuracy_weight * correct + rc.format_weight * formatted
             + overlong_penalty(lengths, max_len=out.tokens.shape[1],
                                buffer=rc.overlong_buffer))
  return rewards.astype(np.float32), correct, formatted, truncated, think


def rollout(ctx, params, sample_fn, prompt_fn, rng, *, num_prompts: int,
            group_size: int, temperature: float, rc) -> tuple[Rollout, int]:
  """Samples and scores one batch of groups.

  ``prompt_fn(k)`` returns the next k problems (the caller's data stream).
  Returns (rollout, prompts consumed).
  """
  t0 = time.perf_counter()
  pl = ctx.config.data.max_prompt_len
  kept, draws, consumed = [], 0, 0
  while True:
    draws += 1
    examples = prompt_fn(num_prompts)
    consumed += num_prompts
    texts = [encoding.prompt_text(e) for e in examples]
    ids, valid = encoding.encode_prompts(ctx.tok, texts, pl)
    ids, valid = (np.repeat(ids, group_size, 0),
                  np.repeat(valid, group_size, 0))
    rng, key = jax.random.split(rng)
    out = jax.device_get(sample_fn(params, ids, valid, key, temperature))
    scored = _score(ctx, examples, out, group_size, rc)
    fields = (ids, valid, out.tokens, out.mask) + scored
    spread = group_has_spread(scored[0], group_size)
    for p in range(num_prompts):
      if not rc.dynamic_sampling or spread[p]:
        sl = slice(p * group_size, (p + 1) * group_size)
        kept.append(tuple(f[sl] for f in fields))
    if (not rc.dynamic_sampling or len(kept) >= num_prompts
        or draws >= rc.max_draws):
      break
  if not kept:  # no group had spread: train on the last draw (no signal).
    kept = [tuple(f[p * group_size:(p + 1) * group_size] for f in fields)
            for p in range(num_prompts)]
  while len(kept) < num_prompts:  # out of draws: repeat kept groups.
    kept += kept[:num_prompts - len(kept)]
  cols = [np.concatenate(c, 0) for c in zip(*kept[:num_prompts])]
  return Rollout(*cols, draws=draws,
                 seconds=time.perf_counter() - t0), consumed
