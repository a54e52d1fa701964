"""The RL learner: a rollout becomes a batch, the batch an update.

Top to bottom, for one rollout (``learn``):
  1. ``prepare_batch``  gather per-row values from every process, trim the
     padding, old (sampling policy) and reference log-probs, then the
     algorithm's ``PREPARE`` function: GRPO's group-relative advantages
     (``rl/advantages.py``) or PPO's critic values and GAE;
  2. ``update``  ``num_updates`` passes over shuffled minibatches of the
     jitted ``rl_step`` (``train/learner_step.py``): the GRPO or PPO loss
     (``rl/losses.py``) and a guarded optimizer update.

Dimensions: B sequences, L prompt slots, T completion tokens, V vocab.
The critic (``ScalarModel`` with a value head, backbone initialised from the
policy) exists only under PPO.
"""

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.parallel import multihost
from reasoning_jax.rl import advantages as adv_lib
from reasoning_jax.train import learner_step
from reasoning_jax.train import rollout as rollout_lib


def learn(
    state, ro, ref_params, fns: learner_step.LearnerFns, rc, batch_sh, rng
):
  """Advantages and ``num_updates`` passes for one rollout: (state, metrics).

  Metrics merge the update's means with the rollout's statistics.
  """
  batch, stats = prepare_batch(ro, state, ref_params, fns, rc, batch_sh)
  state, m = update(state, batch, fns.step, fns.take, rc, rng)
  return state, {**jax.device_get(m), **stats}


class HostRows(NamedTuple):
  """Per-sequence values of the whole batch, on the host: [B] each."""

  rewards: np.ndarray
  correct: np.ndarray
  formatted: np.ndarray
  truncated: np.ndarray
  think: np.ndarray  # tokens up to the first </think>.
  thinking: np.ndarray
  reflected: np.ndarray
  consistency: np.ndarray
  length: np.ndarray  # completion tokens.
  prompt_len: np.ndarray


class Advantages(NamedTuple):
  """What an algorithm's preparation adds to the batch (on device)."""

  adv: jax.Array  # [B] (GRPO) or [B, T] (GRPO with PRM steps; PPO).
  mask: jax.Array  # [B, T] bool: the loss mask after its own filtering.
  old_values: jax.Array  # [B, T]; zeros under GRPO.
  returns: jax.Array  # [B, T]; zeros under GRPO.
  stats: dict  # adv_mean, adv_std, adv_abs_max.


def _gather_host_rows(ro, sh, b: int) -> HostRows:
  """This process's per-row host values, gathered from all processes."""
  host = multihost.allgather(
      np.stack(
          [
              ro.rewards,
              ro.correct,
              ro.formatted,
              ro.truncated,
              ro.think_tokens,
              ro.thinking,
              ro.reflected,
              ro.consistency,
              ro.mask.sum(1),
              ro.prompt_valid.sum(1),
          ],
          1,
      ).astype(np.float32),
      sh,
      b,
  )
  return HostRows(*host.T)


def _gather_steps(ro, sh, b: int):
  """PRM step (scores [B, S], positions [B, S] int, valid [B, S]) of the
  whole batch, or None without process rewards."""
  if ro.step_scores is None:
    return None
  steps = np.split(
      multihost.allgather(
          np.concatenate(
              [ro.step_scores, ro.step_pos, ro.step_valid], 1
          ).astype(np.float32),
          sh,
          b,
      ),
      3,
      axis=1,
  )
  return steps[0], steps[1].astype(np.int32), steps[2] > 0


def prepare_grpo(
    ro, host: HostRows, steps, mask, args, state, fns, rc, rows, glob
) -> Advantages:
  """GRPO: the ``rl.advantage`` group estimator per sequence (its keep
  mask drops skipped groups); with PRM ``step`` rewards, per-token
  process advantages added (``rl.prm_weight``)."""
  del ro, args, state, fns
  p, g = rc.num_prompts, rc.group_size
  adv_pg, keep = adv_lib.GROUP_ADVANTAGES[rc.advantage](
      host.rewards.reshape(p, g), std_floor=rc.std_floor
  )
  adv_all = np.asarray(adv_pg).reshape(-1)
  mask = mask & np.asarray(keep).reshape(-1)[rows, None]
  if steps is not None and rc.prm_mode == "step":  # per-token advantages.
    adv_all = adv_all[:, None] + rc.prm_weight * np.asarray(
        adv_lib.process_advantages(*steps, g, mask.shape[1])
    )
  zeros = glob(np.zeros(mask.shape, np.float32))
  return Advantages(
      glob(adv_all[rows]),
      mask,
      zeros,
      zeros,
      {
          "adv_mean": adv_all.mean(),
          "adv_std": adv_all.std(),
          "adv_abs_max": np.abs(adv_all).max(),
      },
  )


def prepare_ppo(
    ro, host: HostRows, steps, mask, args, state, fns, rc, rows, glob
) -> Advantages:
  """PPO: the critic's values, the reward on each sequence's last token
  (plus PRM step rewards at their boundaries), GAE, and (with
  ``rl.whiten_advantages``) advantages normalised over the valid tokens."""
  del host
  old_values = fns.values(state.params["critic"], *args)
  last = np.maximum(ro.mask.sum(1) - 1, 0)
  token_r = np.zeros(mask.shape, np.float32)
  token_r[np.arange(len(last)), last] = ro.rewards  # reward at the end.
  if steps is not None and rc.prm_mode == "step":  # PRM at boundaries.
    sc, pos, ok = (x[rows] for x in steps)
    np.add.at(token_r, (np.nonzero(ok)[0], pos[ok]), rc.prm_weight * sc[ok])
  valid = args[3]
  adv, returns = adv_lib.gae_advantages(
      glob(token_r), old_values, valid, gamma=rc.gamma, lam=rc.lam
  )
  mm = valid.astype(jnp.float32)
  mu = (adv * mm).sum() / mm.sum()
  sd = jnp.sqrt((((adv - mu) * mm) ** 2).sum() / mm.sum())
  stats = {"adv_mean": float(mu), "adv_std": float(sd)}
  if rc.whiten_advantages:  # normalise over the batch's valid tokens.
    adv = (adv - mu) / (sd + 1e-6) * mm
  stats["adv_abs_max"] = float(jnp.abs(adv).max())
  return Advantages(adv, mask, old_values, returns, stats)


# ``rl.algorithm`` -> how a rollout becomes advantages (and the critic's
# values and returns).
PREPARE = {"grpo": prepare_grpo, "ppo": prepare_ppo}


def prepare_batch(ro, state, ref_params, fns: learner_step.LearnerFns, rc, sh):
  """Old/ref log-probs, values and advantages for a rollout (on device).

  ``ro`` holds this process's rows; per-row host values (rewards, lengths)
  are gathered from all processes so that trimming, advantages and
  statistics see the whole batch; ``sh`` is the batch sharding.
  """
  p, g = rc.num_prompts, rc.group_size
  b = p * g
  rows = multihost.process_rows(sh, b)
  host = _gather_host_rows(ro, sh, b)
  steps = _gather_steps(ro, sh, b)
  ro = trim(ro, int(host.prompt_len.max()), int(host.length.max()))
  glob = functools.partial(multihost.to_global, sharding=sh, n=b)
  args = tuple(
      glob(x) for x in (ro.prompt_ids, ro.prompt_valid, ro.tokens, ro.mask)
  )
  # With one pass over one minibatch the update sees the sampling policy's
  # own parameters, so its log-probs are the old ones: skip that forward.
  old_logp = (
      None
      if learner_step.updates_per_step(rc) == 1
      else fns.logp(state.params["policy"], *args)[0]
  )
  ref_logp = fns.logp(ref_params, *args)[0] if rc.kl_beta > 0 else None
  mask = ro.mask.copy()
  if rc.mask_truncated:  # DAPO overlong filtering: no loss on cut-off text.
    mask &= ~ro.truncated[:, None]
  a = PREPARE[rc.algorithm](
      ro, host, steps, mask, args, state, fns, rc, rows, glob
  )
  batch = learner_step.Batch(
      *args[:3],
      glob(a.mask),
      old_logp,
      ref_logp,
      a.adv,
      a.old_values,
      a.returns
  )
  return batch, _rollout_stats(host, steps, a.stats, ro.draws, p, g)


def _rollout_stats(
    host: HostRows, steps, adv_stats: dict, draws: int, p: int, g: int
) -> dict:
  """The rollout's means for the metrics file."""
  stats = {
      "reward_mean": host.rewards.mean(),
      "reward_std": host.rewards.std(),
      "accuracy": host.correct.mean(),
      "format_rate": host.formatted.mean(),
      "length": host.length.mean(),
      "think_tokens": host.think.mean(),
      "answer_tokens": (host.length - host.think).mean(),
      "truncation_rate": host.truncated.mean(),
      "think_rate": host.thinking.mean(),
      "reflection_rate": host.reflected.mean(),
      "consistency": host.consistency.mean(),
      "degenerate_groups": (host.rewards.reshape(p, g).std(1) == 0).mean(),
      **adv_stats,
      "draws": draws,
  }
  if steps is not None:
    stats["prm_step_score"] = (
        float(steps[0][steps[2]].mean()) if steps[2].any() else 0.0
    )
    stats["prm_steps"] = float(steps[2].sum(1).mean())
  return stats


def trim(
    ro: rollout_lib.Rollout, prompt_len: int, completion_len: int
) -> rollout_lib.Rollout:
  """Drops all-padding columns: prompt and completion slots to multiples of
  8, from the longest prompt and completion of the whole batch. Few distinct shapes, so few compilations, and the learner's
  passes cost what the text needs, not the sampling budget.
  """
  pl = encoding.round_up(prompt_len, 8, ro.prompt_ids.shape[1])
  n = encoding.round_up(completion_len, 8, ro.tokens.shape[1])
  return dataclasses.replace(
      ro,
      prompt_ids=ro.prompt_ids[:, -pl:],
      prompt_valid=ro.prompt_valid[:, -pl:],
      tokens=ro.tokens[:, :n],
      mask=ro.mask[:, :n],
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
