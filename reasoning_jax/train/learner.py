"""The RL learner: a rollout becomes a batch, the batch an update.

Top to bottom, for one rollout (``learn``):
  1. ``prepare_batch``  gather per-row values from every process, trim the
     padding, old (sampling policy) and reference log-probs, then the
     algorithm's ``PREPARE`` function: GRPO's group-relative advantages
     (``rl/advantages.py``) or PPO's critic values and GAE;
  2. ``update``  ``num_updates`` passes over shuffled minibatches of the
     jitted ``rl_step``: the GRPO or PPO loss (``rl/losses.py``) and a
     guarded optimizer update.

Dimensions: B sequences, L prompt slots, T completion tokens, V vocab.
The critic (``ScalarModel`` with a value head, backbone initialised from the
policy) exists only under PPO.
"""

import dataclasses
import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from reasoning_jax.data import encoding
from reasoning_jax.models import flops as flops_lib
from reasoning_jax.models import ScalarModel
from reasoning_jax.models.transformer import positions_from_valid
from reasoning_jax.parallel import multihost
from reasoning_jax.parallel import sharding
from reasoning_jax.rl import advantages as adv_lib
from reasoning_jax.rl import losses
from reasoning_jax.train import optim
from reasoning_jax.train import rollout as rollout_lib
from reasoning_jax.train import state as state_lib


class Batch(NamedTuple):
  """One minibatch of the rollout, already on device."""

  prompt: jax.Array  # [B, L] int32
  prompt_valid: jax.Array  # [B, L] bool
  tokens: jax.Array  # [B, T] int32
  mask: jax.Array  # [B, T] bool, tokens that enter the loss.
  old_logp: jax.Array | None  # [B, T]; None: on-policy, see ``prepare_batch``.
  ref_logp: jax.Array | None  # [B, T]; None when kl_beta == 0.
  adv: jax.Array  # [B] (GRPO) or [B, T] (PPO)
  old_values: jax.Array  # [B, T] (PPO; zeros under GRPO)
  returns: jax.Array  # [B, T] (PPO; zeros under GRPO)


def _sequence(prompt, prompt_valid, tokens, mask):
  seq = jnp.concatenate([prompt, tokens], 1)
  valid = jnp.concatenate([prompt_valid, mask], 1)
  return seq, valid, positions_from_valid(valid)


def completion_logprobs(model, params, prompt, prompt_valid, tokens, mask):
  """Log-probs [B, T] and entropies [B, T] of the completion tokens.

  One full forward over ``prompt ++ completion``; the logits at slot
  L−1+t predict completion token t.
  """
  seq, valid, pos = _sequence(prompt, prompt_valid, tokens, mask)
  pl, n = prompt.shape[1], tokens.shape[1]
  logits, _, _ = model.apply(
      {"params": params}, seq, pos, valid, logits_slice=(pl - 1, n)
  )
  logp_all = jax.nn.log_softmax(logits, -1)
  logp = jnp.take_along_axis(logp_all, tokens[..., None], -1)[..., 0]
  entropy = -(jnp.exp(logp_all) * logp_all).sum(-1)
  return logp, entropy


def completion_values(critic, params, prompt, prompt_valid, tokens, mask):
  """V(state before token t) [B, T] from the critic."""
  seq, valid, pos = _sequence(prompt, prompt_valid, tokens, mask)
  v = critic.apply({"params": params}, seq, pos, valid)
  pl, n = prompt.shape[1], tokens.shape[1]
  return v[:, pl - 1 : pl - 1 + n]


def rl_step(state, batch: Batch, *, model, critic, tx, rc):
  """One optimizer step on a minibatch: GRPO or PPO loss, guarded update."""

  def loss_fn(params):
    logp, ent = completion_logprobs(
        model,
        params["policy"],
        batch.prompt,
        batch.prompt_valid,
        batch.tokens,
        batch.mask,
    )
    # The losses stop gradients through old/ref themselves; a missing one is
    # the current policy's own log-prob (ratio 1, or KL 0 with kl_beta 0).
    old = logp if batch.old_logp is None else batch.old_logp
    ref = logp if batch.ref_logp is None else batch.ref_logp
    common = dict(
        clip_eps=rc.clip_eps,
        clip_eps_high=rc.clip_eps_high or None,
        kl_beta=rc.kl_beta,
        reduction=rc.loss_reduction,
    )
    if critic is None:
      loss, m = losses.grpo_loss(
          logp, old, ref, batch.adv, batch.mask, **common
      )
    else:
      values = completion_values(
          critic,
          params["critic"],
          batch.prompt,
          batch.prompt_valid,
          batch.tokens,
          batch.mask,
      )
      loss, m = losses.ppo_loss(
          logp,
          old,
          ref,
          batch.adv,
          batch.mask,
          values,
          batch.old_values,
          batch.returns,
          ent,
          value_coef=rc.value_coef,
          value_clip=rc.value_clip,
          entropy_coef=rc.entropy_coef,
          **common
      )
    m["entropy"] = losses.REDUCTIONS["token_mean"](
        ent, batch.mask.astype(jnp.float32)
    )
    return loss, m

  (loss, m), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state, upd = state_lib.guarded_update(state, grads, tx, loss)
  return state, {"loss": loss, **m, **upd}


def _make_tx(rc, total_steps, algorithm):
  def one(lr):
    return optim.from_section(
        rc, total_steps=total_steps, learning_rate=lr, schedule="constant"
    )

  if algorithm == "grpo":
    return optax.multi_transform(
        {"policy": one(rc.learning_rate)}, {"policy": "policy"}
    )
  return optax.multi_transform(
      {"policy": one(rc.learning_rate), "critic": one(rc.critic_lr)},
      {"policy": "policy", "critic": "critic"},
  )


def build_learner(
    model,
    params,
    rc,
    mesh,
    rules,
    seq_len: int,
    seed: int,
    tx: optax.GradientTransformation | None = None,
):
  """Sharded learner state from the SFT policy ``params``.

  GRPO: ``state.params = {"policy"}``. PPO adds ``"critic"``: a
  ``ScalarModel`` whose backbone starts as a copy of the policy's and whose
  value head starts at zero. ``tx`` replaces the config's AdamW (e.g. plain
  SGD, whose update is the gradient). Returns (state, state_shardings,
  critic or None, tx).
  """
  dummy = jnp.ones((1, seq_len), jnp.int32)
  init_fns = {
      "policy": lambda k: model.init(k, dummy, dummy, dummy > 0)["params"]
  }
  start = {"policy": params}
  critic = None
  if rc.algorithm == "ppo":
    critic = ScalarModel(model.cfg, head_name="value_head")
    init_fns["critic"] = lambda k: critic.init(k, dummy, dummy, dummy > 0)[
        "params"
    ]
    start["critic"] = {
        "model": params["model"],
        "value_head": {
            "kernel": jnp.zeros((model.cfg.d_model,)),
            "bias": jnp.zeros(()),
        },
    }
  if tx is None:
    tx = _make_tx(rc, rc.steps * updates_per_step(rc), rc.algorithm)
  state, state_sh = state_lib.create_state(
      lambda k: {name: fn(k) for name, fn in init_fns.items()},
      tx,
      jax.random.PRNGKey(seed),
      mesh,
      rules,
      params=start,
  )
  return state, state_sh, critic, tx


class LearnerFns(NamedTuple):
  """The learner's jitted functions, each with explicit shardings."""

  step: Callable  # (state, Batch) -> (state, metrics); state donated.
  take: Callable  # (Batch, idx) -> minibatch, batch-sharded.
  logp: Callable  # (policy params, prompt, valid, tokens, mask) -> logp, ent.
  values: Callable | None  # (critic params, ...) -> values (PPO only).


def make_learner_fns(model, critic, tx, rc, state_sh, batch_sh) -> LearnerFns:
  """Jits the RL step and the log-prob/value passes for these shardings."""
  repl = sharding.replicated(batch_sh.mesh)
  step = jax.jit(
      functools.partial(rl_step, model=model, critic=critic, tx=tx, rc=rc),
      in_shardings=(state_sh, batch_sh),
      out_shardings=(state_sh, repl),
      donate_argnums=0,
  )
  take = jax.jit(
      lambda batch, idx: jax.tree.map(lambda x: x[idx], batch),
      in_shardings=(batch_sh, repl),
      out_shardings=batch_sh,
  )
  seq_in = (batch_sh,) * 4
  logp = jax.jit(
      functools.partial(completion_logprobs, model),
      in_shardings=(state_sh.params["policy"], *seq_in),
      out_shardings=batch_sh,
  )
  values = None
  if critic is not None:
    values = jax.jit(
        functools.partial(completion_values, critic),
        in_shardings=(state_sh.params["critic"], *seq_in),
        out_shardings=batch_sh,
    )
  return LearnerFns(step, take, logp, values)


def learn(state, ro, ref_params, fns: LearnerFns, rc, batch_sh, rng):
  """Advantages and ``num_updates`` passes for one rollout: (state, metrics).

  Metrics merge the update's means with the rollout's statistics.
  """
  batch, stats = prepare_batch(ro, state, ref_params, fns, rc, batch_sh)
  state, m = update(state, batch, fns.step, fns.take, rc, rng)
  return state, {**jax.device_get(m), **stats}


def num_minibatches(rc) -> int:
  return max(1, (rc.num_prompts * rc.group_size) // rc.minibatch_size)


def updates_per_step(rc) -> int:
  return rc.num_updates * num_minibatches(rc)


# ``rl.algorithm`` -> models trained: the policy (and PPO's critic).
MODELS_TRAINED = {"grpo": 1, "ppo": 2}


def step_flops(model_cfg, rc, batch: int, seq: int) -> float:
  """Model FLOPs of one learner step on ``batch`` sequences of ``seq``
  tokens: the reference pass (and the critic's values), then
  ``num_updates`` forward + backward passes of each trained model."""
  k = MODELS_TRAINED[rc.algorithm]
  return flops_lib.train_flops(
      model_cfg,
      batch,
      seq,
      forwards=k + rc.num_updates * k,
      backwards=rc.num_updates * k,
  )


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


def prepare_batch(ro, state, ref_params, fns: LearnerFns, rc, sh):
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
      if updates_per_step(rc) == 1
      else fns.logp(state.params["policy"], *args)[0]
  )
  ref_logp = fns.logp(ref_params, *args)[0] if rc.kl_beta > 0 else None
  mask = ro.mask.copy()
  if rc.mask_truncated:  # DAPO overlong filtering: no loss on cut-off text.
    mask &= ~ro.truncated[:, None]
  a = PREPARE[rc.algorithm](
      ro, host, steps, mask, args, state, fns, rc, rows, glob
  )
  batch = Batch(
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


def update(state, batch: Batch, step_fn, take_fn, rc, rng):
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
