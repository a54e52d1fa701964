"""Rollouts: P prompts × G samples through the jitted sampler, scored on host.

Dimensions: P prompts, G samples per prompt, B = P*G sequences
(group-contiguous: rows g*... of one prompt are adjacent), L prompt slots,
T new tokens. In a multi-process run each process encodes, decodes and
scores only its own rows (whole groups); the sampler runs on the global
batch.

Rewards read text, so they run on the host after one device→host copy per
rollout, never under jit. With dynamic sampling (DAPO, Yu et al. 2025) groups
whose rewards are all equal carry no GRPO signal; they are dropped and fresh
prompts are drawn until P groups with spread are collected (or ``max_draws``
rollout calls were made), and the number of draws is reported.
"""

import dataclasses
import time
from typing import NamedTuple

import jax
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.parallel import multihost
from reasoning_jax.rewards import aggregate
from reasoning_jax.rewards import consistency_reward
from reasoning_jax.sampling import generate as generate_lib
from reasoning_jax.train import evaluate


@dataclasses.dataclass
class Rollout:
  """This process's rows of one rollout (all rows with one process)."""

  prompt_ids: np.ndarray  # [B, L] int32, left-padded.
  prompt_valid: np.ndarray  # [B, L] bool
  tokens: np.ndarray  # [B, T] int32 completions, pad after the stop.
  mask: np.ndarray  # [B, T] bool, generated tokens.
  rewards: np.ndarray  # [B] float32, shaped reward used for advantages.
  correct: np.ndarray  # [B] float32, verifier accuracy.
  formatted: np.ndarray  # [B] float32, format reward.
  truncated: np.ndarray  # [B] bool, no stop token within N.
  think_tokens: np.ndarray  # [B] int32, tokens up to and including </think>.
  thinking: np.ndarray  # [B] bool, opens with <think> (works it out).
  reflected: np.ndarray  # [B] bool, has a reflection phrase ("wait", ...).
  consistency: np.ndarray  # [B] float32, share of well-formed step lines.
  draws: int  # rollout calls it took (1 without dynamic sampling).
  seconds: float  # wall time of sampling + scoring.
  # Process rewards (``rl.prm_path``): PRM P(step on track) at each step
  # boundary [B, S], the boundary's index into ``tokens``, and validity.
  step_scores: np.ndarray | None = None
  step_pos: np.ndarray | None = None
  step_valid: np.ndarray | None = None


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


class Scored(NamedTuple):
  """Rewards and statistics of one sampled batch, [B] each (host side);
  the fields of ``Rollout`` of the same names."""

  rewards: np.ndarray  # float32: the shaped reward.
  correct: np.ndarray  # float32
  formatted: np.ndarray  # float32
  truncated: np.ndarray  # bool
  think_tokens: np.ndarray  # int32
  thinking: np.ndarray  # bool
  reflected: np.ndarray  # bool
  consistency: np.ndarray  # float32


def _score(ctx, examples, out, group_size, rc) -> Scored:
  """Rewards and statistics of one sampled batch (host side)."""
  texts, lengths, truncated = generate_lib.decode_completions(ctx.tok, out)
  correct, formatted = evaluate.score(
      ctx.task, texts, [examples[i // group_size] for i in range(len(texts))]
  )
  think_close = ctx.tok.piece_id("</think>")
  thinking = np.asarray([evaluate.opens_think(t) for t in texts])
  think = np.asarray(
      [  # tokens up to and including the first </think>;
          int(np.argmax(row[:n] == think_close)) + 1  # all when never closed,
          if (row[:n] == think_close).any()
          else n * opened  # none when bare.
          for row, n, opened in zip(out.tokens, lengths, thinking)
      ],
      np.int32,
  )
  reflected = np.asarray([evaluate.has_reflection(t) for t in texts])
  consistency = np.zeros(len(texts), np.float32)
  if rc.consistency_weight:
    consistency[:] = [
        consistency_reward(t, ctx.task.step_is_wellformed) for t in texts
    ]
  rewards = (
      rc.accuracy_weight * correct
      + rc.format_weight * formatted
      + rc.consistency_weight * consistency
      + overlong_penalty(
          lengths, max_len=out.tokens.shape[1], buffer=rc.overlong_buffer
      )
  )
  return Scored(
      rewards.astype(np.float32),
      correct,
      formatted,
      truncated,
      think,
      thinking,
      reflected,
      consistency,
  )


def rollout(
    ctx,
    params,
    sample_fn,
    prompt_fn,
    rng,
    *,
    num_prompts: int,
    group_size: int,
    temperature: float,
    rc,
    process_reward=None,
) -> tuple[Rollout, int]:
  """Samples and scores one batch of groups.

  ``prompt_fn(start, k)`` returns problems ``start .. start+k-1`` of the
  caller's stream (from where this step begins); each process asks only for
  its own groups. ``process_reward`` (``make_process_reward``) adds PRM
  step scores; under ``rl.prm_mode="sequence"`` ``rl.prm_weight`` × their
  ``rl.prm_aggregate`` joins the reward. Returns (this process's rollout
  rows, prompts consumed).
  """
  t0 = time.perf_counter()
  b = num_prompts * group_size
  rows = multihost.process_rows(ctx.batch_sharding, b)
  if rows.start % group_size or rows.stop % group_size:
    raise ValueError(
        f"each process must hold whole groups: rows {rows} of "
        f"{b} with group_size={group_size}; change the mesh or "
        "rl.num_prompts"
    )
  mine = slice(rows.start // group_size, rows.stop // group_size)
  n_local = mine.stop - mine.start
  kept, draws, consumed = [], 0, 0
  while True:
    draws += 1
    examples = prompt_fn(consumed + mine.start, n_local)
    consumed += num_prompts
    rng, key = jax.random.split(rng)
    fields = _draw(
        ctx,
        params,
        sample_fn,
        examples,
        key,
        temperature,
        group_size,
        b,
        rc,
        process_reward,
    )
    spread = group_has_spread(fields["rewards"], group_size)
    for p in range(n_local):
      if not rc.dynamic_sampling or spread[p]:
        kept.append(_group(fields, p, group_size))
    # Every process samples the same number of times (it is a collective).
    if (
        not rc.dynamic_sampling
        or draws >= rc.max_draws
        or multihost.all_processes(len(kept) >= n_local)
    ):
      break
  if not kept:  # no group had spread: train on the last draw (no signal).
    kept = [_group(fields, p, group_size) for p in range(n_local)]
  while len(kept) < n_local:  # out of draws: repeat kept groups.
    kept += kept[: n_local - len(kept)]
  cols = {k: np.concatenate([g[k] for g in kept[:n_local]], 0) for k in kept[0]}
  return (
      Rollout(**cols, draws=draws, seconds=time.perf_counter() - t0),
      consumed,
  )


def _group(fields: dict, p: int, group_size: int) -> dict:
  """Rows of group ``p`` of every field."""
  return {
      k: v[p * group_size : (p + 1) * group_size] for k, v in fields.items()
  }


def _draw(
    ctx,
    params,
    sample_fn,
    examples,
    key,
    temperature,
    group_size,
    b,
    rc,
    process_reward,
) -> dict:
  """One draw: G samples of each of this process's prompts, scored.
  Returns the ``Rollout`` fields of these rows, [B_local, ...] each."""
  texts = [encoding.prompt_text(e) for e in examples]
  ids, valid = encoding.encode_prompts(
      ctx.tok, texts, ctx.config.data.max_prompt_len
  )
  ids, valid = np.repeat(ids, group_size, 0), np.repeat(valid, group_size, 0)
  out = sample_fn(
      params,
      multihost.to_global(ids, ctx.batch_sharding, b),
      multihost.to_global(valid, ctx.batch_sharding, b),
      key,
      temperature,
  )
  out = type(out)(*(multihost.local_rows(x) for x in out))
  scored = _score(ctx, examples, out, group_size, rc)
  steps = {}
  if process_reward is not None:
    steps = dict(
        zip(
            ("step_scores", "step_pos", "step_valid"),
            _process_reward(ctx, process_reward, ids, valid, out, b),
        )
    )
    if rc.prm_mode == "sequence":
      agg = np.asarray(
          aggregate.aggregate_step_scores(
              steps["step_scores"], steps["step_valid"], rc.prm_aggregate
          )
      )
      scored = scored._replace(rewards=scored.rewards + rc.prm_weight * agg)
  return {
      "prompt_ids": ids,
      "prompt_valid": valid,
      "tokens": out.tokens,
      "mask": out.mask,
      **scored._asdict(),
      **steps,
  }


def _process_reward(ctx, fn, ids, valid, out, b):
  """PRM step scores of this process's rows (the scorer runs globally)."""
  glob = lambda x: multihost.to_global(x, ctx.batch_sharding, b)
  res = fn(glob(ids), glob(valid), glob(out.tokens), glob(out.mask))
  return tuple(np.asarray(multihost.local_rows(x)) for x in res)
