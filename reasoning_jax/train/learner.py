"""The RL learner: a rollout becomes a batch, the batch an update.

Top to bottom, for one rollout (``learn``):
  1. ``prepare_batch``  gather per-row values from every process, trim the
     padding, old (sampling policy) and reference log-probs (and a critic's
     values), then the algorithm's ``prepare_fn`` (``rl/algorithms.py``):
     GRPO's group-relative advantages, PPO's GAE;
  2. ``update``  ``num_updates`` passes over shuffled minibatches of the
     jitted ``rl_step`` (``train/learner_step.py``): the algorithm's loss
     (``rl/losses.py``) and a guarded optimizer update.

Dimensions: B sequences, L prompt slots, T completion tokens, S steps.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.parallel import multihost
from reasoning_jax.rl import algorithms
from reasoning_jax.train import learner_step
from reasoning_jax.train import rollout as rollout_lib


def learn(
    state,
    ro: rollout_lib.Rollout,
    ref_params,
    fns: learner_step.LearnerFns,
    rc,
    batch_sh,
    rng,
):
  """Advantages and ``num_updates`` passes for one rollout: (state, metrics).

  Metrics merge the update's means with the rollout's statistics.
  """
  batch, stats = prepare_batch(ro, state, ref_params, fns, rc, batch_sh)
  state, m = update(state, batch, fns.step, fns.take, rc, rng)
  return state, {**jax.device_get(m), **stats}


class AllRows(NamedTuple):
  """Per-sequence values of every process's rows (the whole batch), on the
  host: [B] each."""

  rewards: np.ndarray  # float32
  truncated: np.ndarray  # bool
  lengths: np.ndarray  # completion tokens.
  prompt_lengths: np.ndarray  # prompt tokens.
  steps: algorithms.StepRewards | None  # [B, S] each, or None.
  stats: rollout_lib.RowStats | None


def gather_rows(ro: rollout_lib.Rollout, sh, b: int) -> AllRows:
  """This process's per-row values, gathered from all processes."""
  mine = AllRows(
      rewards=ro.rewards,
      truncated=ro.truncated,
      lengths=ro.seqs.mask.sum(1),
      prompt_lengths=ro.seqs.prompt_valid.sum(1),
      steps=ro.steps,
      stats=ro.stats,
  )
  return multihost.allgather(mine, sh, b)


def prepare_batch(
    ro: rollout_lib.Rollout,
    state,
    ref_params,
    fns: learner_step.LearnerFns,
    rc,
    sh,
):
  """Old/ref log-probs, values and advantages for a rollout (on device).

  ``ro`` holds this process's rows; per-row host values (rewards, lengths)
  are gathered from all processes so that trimming, advantages and
  statistics see the whole batch; ``sh`` is the batch sharding. Returns
  (``learner_step.Batch``, the rollout's statistics).
  """
  b = rc.num_prompts * rc.group_size
  rows = multihost.process_rows(sh, b)
  every = gather_rows(ro, sh, b)
  seqs = trim(
      ro.seqs, int(every.prompt_lengths.max()), int(every.lengths.max())
  )
  glob = functools.partial(multihost.to_global, sharding=sh, n=b)
  on_device = jax.tree.map(glob, seqs)
  policy = state.params["policy"]
  # With one pass over one minibatch the update sees the sampling policy's
  # own parameters, so its log-probs are the old ones: skip that forward.
  old_logp = None
  if learner_step.updates_per_step(rc) > 1:
    old_logp = fns.logp(policy, *on_device)[0]
  ref_logp = fns.logp(ref_params, *on_device)[0] if rc.kl_beta > 0 else None
  values = None
  if fns.algorithm.trains_critic:
    values = fns.values(state.params["critic"], *on_device)
  a = fns.algorithm.prepare_fn(
      algorithms.PrepareInputs(
          rewards_b=every.rewards,
          lengths_b=every.lengths,
          valid_bt=on_device.mask,
          values_bt=values,
          steps=every.steps,
          group_size=rc.group_size,
          to_global=lambda x: glob(x[rows]),
      ),
      fns.settings,
  )
  keep_b = np.ones(b, bool) if a.keep_b is None else a.keep_b
  if rc.mask_truncated:  # DAPO overlong filtering: no loss on cut-off text.
    keep_b = keep_b & ~every.truncated
  batch = learner_step.Batch(
      prompt_ids=on_device.prompt_ids,
      prompt_valid=on_device.prompt_valid,
      tokens=on_device.tokens,
      mask=glob(seqs.mask & keep_b[rows, None]),
      old_logp=old_logp,
      ref_logp=ref_logp,
      adv=a.adv,
      old_values=values,
      returns=a.returns_bt,
  )
  return batch, rollout_stats(every, a.stats, rc.group_size)


def rollout_stats(every: AllRows, adv_stats: dict, group_size: int) -> dict:
  """The rollout's means for the metrics file (float32, as logged)."""
  f32 = lambda x: np.asarray(x, np.float32)
  length = f32(every.lengths)
  rewards = f32(every.rewards)
  stats = {
      "reward_mean": rewards.mean(),
      "reward_std": rewards.std(),
      "length": length.mean(),
      "truncation_rate": f32(every.truncated).mean(),
      "degenerate_groups": (rewards.reshape(-1, group_size).std(1) == 0).mean(),
  }
  if every.stats is not None:
    s = every.stats
    think = f32(s.think_tokens)
    right = np.asarray(s.correct) > 0
    if right.any():  # completion length split by verdict.
      stats["length_correct"] = length[right].mean()
    if (~right).any():
      stats["length_wrong"] = length[~right].mean()
    stats.update(
        accuracy=f32(s.correct).mean(),
        format_rate=f32(s.formatted).mean(),
        think_tokens=think.mean(),
        answer_tokens=(length - think).mean(),
        think_rate=f32(s.thinking).mean(),
        reflection_rate=f32(s.reflected).mean(),
        consistency=f32(s.consistency).mean(),
    )
  stats.update(adv_stats)
  if every.steps is not None:
    ok = every.steps.valid_bs
    stats["prm_step_score"] = (
        float(every.steps.scores_bs[ok].mean()) if ok.any() else 0.0
    )
    stats["prm_steps"] = float(ok.sum(1).mean())
  return stats


def trim(
    seqs: rollout_lib.Sequences, prompt_len: int, completion_len: int
) -> rollout_lib.Sequences:
  """Drops all-padding columns: prompt and completion slots to multiples of
  8, from the longest prompt and completion of the whole batch. Few
  distinct shapes, so few compilations, and the learner's passes cost what
  the text needs, not the sampling budget.
  """
  pl = encoding.round_up(prompt_len, 8, seqs.prompt_ids.shape[1])
  n = encoding.round_up(completion_len, 8, seqs.tokens.shape[1])
  return rollout_lib.Sequences(
      prompt_ids=seqs.prompt_ids[:, -pl:],
      prompt_valid=seqs.prompt_valid[:, -pl:],
      tokens=seqs.tokens[:, :n],
      mask=seqs.mask[:, :n],
  )


def update(state, batch: learner_step.Batch, step_fn, take_fn, rc, rng):
  """``num_updates`` passes of shuffled minibatches; mean metrics."""
  b = batch.tokens.shape[0]
  mb = min(rc.minibatch_size, b)
  all_m = []
  for epoch in range(rc.num_updates):
    perm = jax.random.permutation(jax.random.fold_in(rng, epoch), b)
    for s in range(0, b - mb + 1, mb):
      state, m = step_fn(state, take_fn(batch, perm[s : s + mb]))
      all_m.append(m)
  return state, jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *all_m)
