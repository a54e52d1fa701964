"""Rollouts: P prompts × G samples through the jitted sampler, scored on host.

Dimensions: P prompts, G samples per prompt, B = P*G sequences
(group-contiguous: rows g*... of one prompt are adjacent), L prompt slots,
T new tokens. In a multi-process run each process encodes, decodes and
scores only its own rows (whole groups); the sampler runs on the global
batch.

Rewards read text, so they run on the host after one device→host copy per
rollout, never under jit. With dynamic sampling (DAPO, Yu et al. 2025) a
group whose samples are all right or all wrong (equal accuracy, DAPO's
filter) carries no verifier signal; it is dropped and fresh prompts are
drawn until P groups with mixed accuracy are collected (or ``max_draws``
rollout calls were made), and the number of draws is reported.
"""

import time
from typing import NamedTuple

import jax
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.parallel import multihost
from reasoning_jax.rewards import aggregate
from reasoning_jax.rewards import consistency_reward
from reasoning_jax.rl import algorithms
from reasoning_jax.sampling import generate as generate_lib
from reasoning_jax.train import evaluation


class Sequences(NamedTuple):
  """Prompts and their completions, host side."""

  prompt_ids: np.ndarray  # [B, L] int32, left-padded.
  prompt_valid: np.ndarray  # [B, L] bool
  tokens: np.ndarray  # [B, T] int32 completions, pad after the stop.
  mask: np.ndarray  # [B, T] bool, generated tokens.


class RowStats(NamedTuple):
  """What each completion is, beyond its reward: statistics for the metrics
  file, [B] each (never in the loss)."""

  correct: np.ndarray  # float32, verifier accuracy.
  formatted: np.ndarray  # float32, format reward.
  think_tokens: np.ndarray  # int32, tokens up to and including </think>.
  thinking: np.ndarray  # bool, opens with <think> (works it out).
  reflected: np.ndarray  # bool, has a reflection phrase ("wait", ...).
  consistency: np.ndarray  # float32, share of well-formed step lines.


class Rollout(NamedTuple):
  """This process's rows of one rollout (all rows with one process): what
  the learner needs, and the rows' statistics."""

  seqs: Sequences
  rewards: np.ndarray  # [B] float32, the shaped reward of the advantages.
  truncated: np.ndarray  # [B] bool, no stop token within T.
  steps: algorithms.StepRewards | None = None  # with ``rl.prm_path``.
  stats: RowStats | None = None  # None: no statistics (e.g. the bench).


class Drawn(NamedTuple):
  """How one rollout was drawn."""

  consumed: int  # prompts of the caller's stream used (all draws).
  draws: int  # rollout calls it took (1 without dynamic sampling).
  seconds: float  # wall time of sampling + scoring.


def overlong_penalty(lengths_b, *, max_len: int, buffer: int):
  """DAPO soft overlong punishment: 0 up to ``max_len - buffer`` tokens,
  then falling linearly to −1 at ``max_len``."""
  if buffer <= 0:
    return np.zeros_like(lengths_b, np.float32)
  over = np.asarray(lengths_b, np.float32) - (max_len - buffer)
  return -np.clip(over / buffer, 0.0, 1.0)


def group_has_spread(values_b, group_size: int):
  """[P] bool: the group's values (accuracy, or rewards) are not all equal
  (it carries signal)."""
  r = np.asarray(values_b).reshape(-1, group_size)
  return r.max(1) > r.min(1)


class Scored(NamedTuple):
  """One sampled batch's rewards and statistics (host side)."""

  rewards: np.ndarray  # [B] float32, the shaped reward.
  truncated: np.ndarray  # [B] bool
  stats: RowStats


def _score(ctx, examples, out, group_size, rc) -> Scored:
  """Rewards and statistics of one sampled batch (host side)."""
  texts, lengths, truncated = generate_lib.decode_completions(ctx.tok, out)
  correct, formatted = evaluation.score(
      ctx.task, texts, [examples[i // group_size] for i in range(len(texts))]
  )
  think_close = ctx.tok.piece_id("</think>")
  thinking = np.asarray([evaluation.opens_think(t) for t in texts])
  think = np.asarray(
      [  # tokens up to and including the first </think>;
          int(np.argmax(row[:n] == think_close)) + 1  # all when never closed,
          if (row[:n] == think_close).any()
          else n * opened  # none when bare.
          for row, n, opened in zip(out.tokens, lengths, thinking)
      ],
      np.int32,
  )
  reflected = np.asarray([evaluation.has_reflection(t) for t in texts])
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
      rewards=rewards.astype(np.float32),
      truncated=truncated,
      stats=RowStats(
          correct=correct,
          formatted=formatted,
          think_tokens=think,
          thinking=thinking,
          reflected=reflected,
          consistency=consistency,
      ),
  )


def rollout(
    ctx, params, sample_fn, prompt_fn, rng, *, rc, process_reward=None
) -> tuple[Rollout, Drawn]:
  """Samples and scores one batch of ``rc.num_prompts`` groups of
  ``rc.group_size`` at ``rc.temperature``.

  ``prompt_fn(start, k)`` returns problems ``start .. start+k-1`` of the
  caller's stream (from where this step begins); each process asks only for
  its own groups. ``process_reward`` (``make_process_reward``) adds PRM
  step scores; under ``rl.prm_mode="sequence"`` ``rl.prm_weight`` × their
  ``rl.prm_aggregate`` joins the reward. Returns (this process's rollout
  rows, how they were drawn).
  """
  t0 = time.perf_counter()
  group_size = rc.group_size
  b = rc.num_prompts * group_size
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
    consumed += rc.num_prompts
    rng, key = jax.random.split(rng)
    drawn = _draw(ctx, params, sample_fn, examples, key, rc, process_reward)
    spread = group_has_spread(drawn.stats.correct, group_size)
    for p in range(n_local):
      if not rc.dynamic_sampling or spread[p]:
        kept.append(_group(drawn, p, group_size))
    # Every process samples the same number of times (it is a collective).
    if (
        not rc.dynamic_sampling
        or draws >= rc.max_draws
        or multihost.all_processes(len(kept) >= n_local)
    ):
      break
  if not kept:  # no group had spread: train on the last draw (no signal).
    kept = [_group(drawn, p, group_size) for p in range(n_local)]
  while len(kept) < n_local:  # out of draws: repeat kept groups.
    kept += kept[: n_local - len(kept)]
  ro = jax.tree.map(lambda *xs: np.concatenate(xs, 0), *kept[:n_local])
  return ro, Drawn(
      consumed=consumed, draws=draws, seconds=time.perf_counter() - t0
  )


def _group(ro: Rollout, p: int, group_size: int) -> Rollout:
  """Rows of group ``p`` of every field."""
  return jax.tree.map(lambda x: x[p * group_size : (p + 1) * group_size], ro)


def _draw(ctx, params, sample_fn, examples, key, rc, process_reward) -> Rollout:
  """One draw: ``rc.group_size`` samples of each of this process's prompts,
  scored: a ``Rollout`` of these rows."""
  b = rc.num_prompts * rc.group_size
  texts = [encoding.prompt_text(e) for e in examples]
  ids, valid = encoding.encode_prompts(
      ctx.tok, texts, ctx.config.data.max_prompt_len
  )
  ids = np.repeat(ids, rc.group_size, 0)
  valid = np.repeat(valid, rc.group_size, 0)
  glob = lambda x: multihost.to_global(x, ctx.batch_sharding, b)
  out = jax.tree.map(
      multihost.local_rows,
      sample_fn(params, glob(ids), glob(valid), key, rc.temperature),
  )
  scored = _score(ctx, examples, out, rc.group_size, rc)
  rewards, steps = scored.rewards, None
  if process_reward is not None:
    res = process_reward(
        glob(ids), glob(valid), glob(out.tokens), glob(out.mask)
    )
    scores, pos, ok = (np.asarray(multihost.local_rows(x)) for x in res)
    steps = algorithms.StepRewards(scores_bs=scores, pos_bs=pos, valid_bs=ok)
    if rc.prm_mode == "sequence":
      agg = np.asarray(
          aggregate.aggregate_step_scores(
              steps.scores_bs, steps.valid_bs, rc.prm_aggregate
          )
      )
      rewards = rewards + rc.prm_weight * agg
  return Rollout(
      seqs=Sequences(
          prompt_ids=ids, prompt_valid=valid, tokens=out.tokens, mask=out.mask
      ),
      rewards=rewards,
      truncated=scored.truncated,
      steps=steps,
      stats=scored.stats,
  )
