"""The RL stage: GRPO or PPO, switched by ``config.rl.algorithm``.

Each step, top to bottom:
  1. rollout   P fresh prompts × G samples (jitted sampler), rule rewards
  2. logprobs  old (policy) and reference log-probs, values (PPO critic)
  3. advantage GRPO: group-normalised per sequence; PPO: GAE per token
  4. update    ``num_updates`` passes over shuffled minibatches, jitted

Dimensions: B sequences, Pl prompt slots, N completion tokens, V vocab.
The critic (``ScalarModel`` with a value head, backbone initialised from the
policy) exists only under PPO. The reference policy is the frozen start.
"""

import dataclasses
import functools
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from reasoning_jax.data import encoding
from reasoning_jax.models import ScalarModel
from reasoning_jax.parallel import multihost, sharding
from reasoning_jax.rl import advantages as adv_lib
from reasoning_jax.rl import losses
from reasoning_jax.sampling.sampler import positions_from_valid
from reasoning_jax.train import checkpoint
from reasoning_jax.train import evaluate as evaluate_lib
from reasoning_jax.train import metrics as metrics_lib
from reasoning_jax.train import optim
from reasoning_jax.train import rollout as rollout_lib
from reasoning_jax.train import state as state_lib

ALGORITHMS = ("grpo", "ppo")
ADVANTAGES = {  # config string -> (std_mode) for the group estimator.
    "grpo": "zero", "grpo_skip": "skip", "grpo_floor": "floor",
    "dr_grpo": "none"}


class Batch(NamedTuple):
  """One minibatch of the rollout, already on device."""
  prompt: jax.Array  # [B, Pl] int32
  prompt_valid: jax.Array  # [B, Pl] bool
  tokens: jax.Array  # [B, N] int32
  mask: jax.Array  # [B, N] bool, tokens that enter the loss.
  old_logp: jax.Array | None  # [B, N]; None: on-policy, see ``_prepare``.
  ref_logp: jax.Array | None  # [B, N]; None when kl_beta == 0.
  adv: jax.Array  # [B] (GRPO) or [B, N] (PPO)
  old_values: jax.Array  # [B, N] (PPO; zeros under GRPO)
  returns: jax.Array  # [B, N] (PPO; zeros under GRPO)


def _sequence(prompt, prompt_valid, tokens, mask):
  seq = jnp.concatenate([prompt, tokens], 1)
  valid = jnp.concatenate([prompt_valid, mask], 1)
  return seq, valid, positions_from_valid(valid)


def completion_logprobs(model, params, prompt, prompt_valid, tokens, mask):
  """Log-probs [B, N] and entropies [B, N] of the completion tokens.

  One full forward over ``prompt ++ completion``; the logits at slot
  Pl−1+t predict completion token t.
  """
  seq, valid, pos = _sequence(prompt, prompt_valid, tokens, mask)
  pl, n = prompt.shape[1], tokens.shape[1]
  logits, _, _ = model.apply({"params": params}, seq, pos, valid,
                             logits_slice=(pl - 1, n))
  logp_all = jax.nn.log_softmax(logits, -1)
  logp = jnp.take_along_axis(logp_all, tokens[..., None], -1)[..., 0]
  entropy = -(jnp.exp(logp_all) * logp_all).sum(-1)
  return logp, entropy


def completion_values(critic, params, prompt, prompt_valid, tokens, mask):
  """V(state before token t) [B, N] from the critic."""
  seq, valid, pos = _sequence(prompt, prompt_valid, tokens, mask)
  v = critic.apply({"params": params}, seq, pos, valid)
  pl, n = prompt.shape[1], tokens.shape[1]
  return v[:, pl - 1:pl - 1 + n]


def rl_step(state, batch: Batch, *, model, critic, tx, rc):
  """One optimizer step on a minibatch: GRPO or PPO loss, guarded update."""
  def loss_fn(params):
    logp, ent = completion_logprobs(model, params["policy"], batch.prompt,
                                    batch.prompt_valid, batch.tokens,
                                    batch.mask)
    # The losses stop gradients through old/ref themselves; a missing one is
    # the current policy's own log-prob (ratio 1, or KL 0 with kl_beta 0).
    old = logp if batch.old_logp is None else batch.old_logp
    ref = logp if batch.ref_logp is None else batch.ref_logp
    common = dict(clip_eps=rc.clip_eps, clip_eps_high=rc.clip_eps_high or None,
                  kl_beta=rc.kl_beta, reduction=rc.loss_reduction)
    if critic is None:
      loss, m = losses.grpo_loss(logp, old, ref, batch.adv, batch.mask,
                                 **common)
    else:
      values = completion_values(critic, params["critic"], batch.prompt,
                                 batch.prompt_valid, batch.tokens, batch.mask)
      loss, m = losses.ppo_loss(
          logp, old, ref, batch.adv, batch.mask,
          values, batch.old_values, batch.returns, ent,
          value_coef=rc.value_coef, value_clip=rc.value_clip,
          entropy_coef=rc.entropy_coef, **common)
    m["entropy"] = losses.REDUCTIONS["token_mean"](
        ent, batch.mask.astype(jnp.float32))
    return loss, m

  (loss, m), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state, upd = state_lib.guarded_update(state, grads, tx, loss)
  return state, {"loss": loss, **m, **upd}


def _make_tx(rc, total_steps, algorithm):
  def one(lr):
    return optim.make_optimizer(
        learning_rate=lr, total_steps=total_steps,
        warmup_steps=rc.warmup_steps, weight_decay=rc.weight_decay,
        b1=rc.b1, b2=rc.b2, max_grad_norm=rc.max_grad_norm,
        schedule="constant")
  if algorithm == "grpo":
    return optax.multi_transform({"policy": one(rc.learning_rate)},
                                 {"policy": "policy"})
  return optax.multi_transform(
      {"policy": one(rc.learning_rate), "critic": one(rc.critic_lr)},
      {"policy": "policy", "critic": "critic"})


def build_learner(model, params, rc, mesh, rules, seq_len: int, seed: int,
                  tx: optax.GradientTransformation | None = None):
  """Sharded learner state from the SFT policy ``params``.

  GRPO: ``state.params = {"policy"}``. PPO adds ``"critic"``: a
  ``ScalarModel`` whose backbone starts as a copy of the policy's and whose
  value head starts at zero. ``tx`` replaces the config's AdamW (e.g. plain
  SGD, whose update is the gradient). Returns (state, state_shardings,
  critic or None, tx).
  """
  dummy = jnp.ones((1, seq_len), jnp.int32)
  init_fns = {"policy": lambda k: model.init(k, dummy, dummy,
                                             dummy > 0)["params"]}
  start = {"policy": params}
  critic = None
  if rc.algorithm == "ppo":
    critic = ScalarModel(model.cfg, head_name="value_head")
    init_fns["critic"] = lambda k: critic.init(k, dummy, dummy,
                                               dummy > 0)["params"]
    start["critic"] = {"model": params["model"], "value_head": {
        "kernel": jnp.zeros((model.cfg.d_model,)), "bias": jnp.zeros(())}}
  if tx is None:
    tx = _make_tx(rc, rc.steps * _updates_per_step(rc), rc.algorithm)
  state, state_sh = state_lib.create_state(
      lambda k: {name: fn(k) for name, fn in init_fns.items()}, tx,
      jax.random.PRNGKey(seed), mesh, rules, params=start)
  return state, state_sh, critic, tx


class LearnerFns(NamedTuple):
  """The learner's jitted functions, each with explicit shardings."""
  step: Callable  # (state, Batch) -> (state, metrics); state donated.
  take: Callable  # (Batch, idx) -> minibatch, batch-sharded.
  logp: Callable  # (policy params, prompt, valid, tokens, mask) -> logp, ent.
  values: Callable | None  # (critic params, ...) -> values (PPO only).


def make_learner_fns(model, critic, tx, rc, state_sh, batch_sh
                     ) -> LearnerFns:
  """Jits the RL step and the log-prob/value passes for these shardings."""
  repl = sharding.replicated(batch_sh.mesh)
  step = jax.jit(functools.partial(rl_step, model=model, critic=critic, tx=tx,
                                   rc=rc),
                 in_shardings=(state_sh, batch_sh),
                 out_shardings=(state_sh, repl), donate_argnums=0)
  take = jax.jit(lambda batch, idx: jax.tree.map(lambda x: x[idx], batch),
                 in_shardings=(batch_sh, repl), out_shardings=batch_sh)
  seq_in = (batch_sh,) * 4
  logp = jax.jit(functools.partial(completion_logprobs, model),
                 in_shardings=(state_sh.params["policy"], *seq_in),
                 out_shardings=batch_sh)
  values = None
  if critic is not None:
    values = jax.jit(functools.partial(completion_values, critic),
                     in_shardings=(state_sh.params["critic"], *seq_in),
                     out_shardings=batch_sh)
  return LearnerFns(step, take, logp, values)


def learn(state, ro, ref_params, fns: LearnerFns, rc, batch_sh, rng):
  """Advantages and ``num_updates`` passes for one rollout: (state, metrics).

  Metrics merge the update's means with the rollout's statistics.
  """
  batch, stats = _prepare(ro, state, ref_params, fns, rc, batch_sh)
  state, m = _update(state, batch, fns.step, fns.take, rc, rng)
  return state, {**jax.device_get(m), **stats}


def run_rl(ctx, params, stage: str | None = None):
  """The RL stage from ``params`` (the SFT policy), checkpointed as
  ``stage`` (default ``rl_<algorithm>``). Returns (params, result)."""
  cfg, rc = ctx.config, ctx.config.rl
  algorithm = rc.algorithm
  stage = stage or f"rl_{algorithm}"
  model, pl, n = ctx.model, cfg.data.max_prompt_len, cfg.data.max_new_tokens
  state, state_sh, critic, tx = build_learner(
      model, params, rc, ctx.mesh, ctx.rules, pl + n, cfg.seed + 1)
  # A frozen copy of the start (the state itself is donated to each step).
  ref_params = jax.tree.map(lambda x: x.copy(), state.params["policy"])
  ckpt = checkpoint.Checkpointer(ctx.workdir, stage,
                                 cfg.checkpoint.keep)
  if ckpt.latest_step() is not None:
    state = ckpt.restore(state)
    logging.info("rl: resumed from step %d", int(state.step))

  batch_sh = ctx.batch_sharding
  fns = make_learner_fns(model, critic, tx, rc, state_sh, batch_sh)
  sample_fn = ctx.sampler(top_k=rc.top_k, top_p=rc.top_p,
                          group_size=rc.group_size)  # prefix sharing.
  process_reward = None
  if rc.prm_path:  # a PRM trained by reasoning_jax.verify.
    from reasoning_jax.verifiers import reward_model  # pylint: disable=g-import-not-at-top
    prm = reward_model.reward_model(model.cfg)
    process_reward = reward_model.make_process_reward(
        prm, reward_model.load_params(rc.prm_path, prm), rc.prm_max_steps,
        think_id=ctx.tok.piece_id("<think>"),
        close_id=ctx.tok.piece_id("</think>"),
        newline_id=ctx.tok.piece_id("\n"))

  writer = metrics_lib.MetricWriter(
      ctx.logdir, stage, int(state.step) // _updates_per_step(rc))
  progress = metrics_lib.Progress(stage, rc.steps,
                                  int(state.step) // _updates_per_step(rc))

  def prompts(position, start, k):
    base = ctx.fresh_train_index + position  # fresh: after the SFT set.
    return [ctx.task.example("train", base + start + i) for i in range(k)]

  rl_step_i = int(state.step) // _updates_per_step(rc)
  while rl_step_i < rc.steps:
    position = int(state.data_position)
    rng = jax.random.fold_in(jax.random.PRNGKey(cfg.seed + 2), rl_step_i)
    ro, consumed = rollout_lib.rollout(
        ctx, state.params["policy"], sample_fn,
        functools.partial(prompts, position), rng, num_prompts=rc.num_prompts,
        group_size=rc.group_size, temperature=rc.temperature, rc=rc,
        process_reward=process_reward)
    t_upd = time.perf_counter()
    state = state.replace(data_position=state.data_position + consumed)
    state, m = learn(state, ro, ref_params, fns, rc, batch_sh, rng)
    upd_s = time.perf_counter() - t_upd
    rl_step_i += 1
    tokens = m["length"] * rc.num_prompts * rc.group_size
    m.update(rollout_tokens_per_s=tokens / ro.seconds,
             update_tokens_per_s=tokens * rc.num_updates / upd_s,
             rollout_s=ro.seconds, update_s=upd_s,
             steps_per_s=progress.rate(rl_step_i))
    if rl_step_i % cfg.log_every == 0 or rl_step_i == rc.steps:
      progress.log(rl_step_i, {k: m[k] for k in
                               ("reward_mean", "accuracy", "kl", "loss")})
    writer.write(rl_step_i, m)
    if rl_step_i % rc.eval_every == 0 and rl_step_i < rc.steps:
      r = ctx.evaluate(state.params["policy"], cfg.eval.periodic_problems)
      writer.write(rl_step_i, evaluate_lib.flat_metrics(
          evaluate_lib.stage_result(r), "eval"))
    if rl_step_i % cfg.checkpoint.every == 0 or rl_step_i == rc.steps:
      ckpt.save(int(state.step), state)
    ckpt.save_and_stop_if_preempted(stage, int(state.step),
                                    state)
  ckpt.close()
  r = ctx.evaluate(state.params["policy"])
  result = evaluate_lib.stage_result(r)
  result["state_bytes"] = state_lib.tree_bytes((state.params,
                                                state.opt_state))
  writer.write(rl_step_i, evaluate_lib.flat_metrics(result, "final"))
  writer.close()
  result["correct"] = r["correct"]  # [num_problems] 0/1, for paired deltas.
  return state.params["policy"], result


def _num_minibatches(rc) -> int:
  return max(1, (rc.num_prompts * rc.group_size) // rc.minibatch_size)


def _updates_per_step(rc) -> int:
  return rc.num_updates * _num_minibatches(rc)


def _prepare(ro, state, ref_params, fns: LearnerFns, rc, sh):
  """Old/ref log-probs, values and advantages for a rollout (on device).

  ``ro`` holds this process's rows; per-row host values (rewards, lengths)
  are gathered from all processes so that trimming, advantages and
  statistics see the whole batch; ``sh`` is the batch sharding.
  """
  p, g = rc.num_prompts, rc.group_size
  b = p * g
  rows = multihost.process_rows(sh, b)
  lengths = ro.mask.sum(1)
  host = multihost.allgather(np.stack(
      [ro.rewards, ro.correct, ro.formatted, ro.truncated, ro.think_tokens,
       ro.thinking, ro.reflected, ro.consistency, lengths,
       ro.prompt_valid.sum(1)], 1).astype(np.float32), sh, b)
  (rewards, correct, formatted, truncated, think, thinking, reflected,
   consistency, all_len, prompt_len) = host.T
  steps = None  # process rewards: [B, S] scores, positions, validity.
  if ro.step_scores is not None:
    steps = np.split(multihost.allgather(np.concatenate(
        [ro.step_scores, ro.step_pos, ro.step_valid], 1).astype(np.float32),
                                         sh, b), 3, axis=1)
    steps = (steps[0], steps[1].astype(np.int32), steps[2] > 0)
  ro = trim(ro, int(prompt_len.max()), int(all_len.max()))
  glob = functools.partial(multihost.to_global, sharding=sh, n=b)
  args = tuple(glob(x) for x in (ro.prompt_ids, ro.prompt_valid, ro.tokens,
                                 ro.mask))
  # With one pass over one minibatch the update sees the sampling policy's
  # own parameters, so its log-probs are the old ones: skip that forward.
  old_logp = (None if _updates_per_step(rc) == 1
              else fns.logp(state.params["policy"], *args)[0])
  ref_logp = fns.logp(ref_params, *args)[0] if rc.kl_beta > 0 else None
  mask = ro.mask.copy()
  if rc.mask_truncated:  # DAPO overlong filtering: no loss on cut-off text.
    mask &= ~ro.truncated[:, None]
  rewards_pg = rewards.reshape(p, g)
  zeros = jnp.zeros(mask.shape, jnp.float32)  # placeholders under GRPO.
  if rc.algorithm == "grpo":
    adv_pg, keep = adv_lib.grpo_advantages(
        rewards_pg, std_mode=ADVANTAGES[rc.advantage],
        std_floor=rc.std_floor)
    adv_all = np.asarray(adv_pg).reshape(-1)
    mask &= np.asarray(keep).reshape(-1)[rows, None]
    if steps is not None and rc.prm_mode == "step":  # per-token advantages.
      adv_all = adv_all[:, None] + rc.prm_weight * np.asarray(
          adv_lib.process_advantages(*steps, g, mask.shape[1]))
    adv = glob(adv_all[rows])
    old_values, returns = glob(zeros), glob(zeros)
    adv_mean, adv_std = adv_all.mean(), adv_all.std()
    adv_abs_max = np.abs(adv_all).max()
  else:
    old_values = fns.values(state.params["critic"], *args)
    last = np.maximum(ro.mask.sum(1) - 1, 0)
    token_r = np.zeros(mask.shape, np.float32)
    token_r[np.arange(len(last)), last] = ro.rewards  # reward at the end.
    if steps is not None and rc.prm_mode == "step":  # PRM at boundaries.
      sc, pos, ok = (x[rows] for x in steps)
      np.add.at(token_r, (np.nonzero(ok)[0], pos[ok]),
                rc.prm_weight * sc[ok])
    valid = args[3]
    adv, returns = adv_lib.gae_advantages(glob(token_r), old_values, valid,
                                          gamma=rc.gamma, lam=rc.lam)
    mm = valid.astype(jnp.float32)
    mu = (adv * mm).sum() / mm.sum()
    sd = jnp.sqrt((((adv - mu) * mm) ** 2).sum() / mm.sum())
    adv_mean, adv_std = float(mu), float(sd)
    if rc.whiten_advantages:  # normalise over the batch's valid tokens.
      adv = (adv - mu) / (sd + 1e-6) * mm
    adv_abs_max = float(jnp.abs(adv).max())
  batch = Batch(*args[:3], glob(mask), old_logp, ref_logp, adv, old_values,
                returns)
  stats = {
      "reward_mean": rewards.mean(), "reward_std": rewards.std(),
      "accuracy": correct.mean(), "format_rate": formatted.mean(),
      "length": all_len.mean(), "think_tokens": think.mean(),
      "answer_tokens": (all_len - think).mean(),
      "truncation_rate": truncated.mean(), "think_rate": thinking.mean(),
      "reflection_rate": reflected.mean(), "consistency": consistency.mean(),
      "degenerate_groups": (rewards_pg.std(1) == 0).mean(),
      "adv_mean": adv_mean, "adv_std": adv_std, "adv_abs_max": adv_abs_max,
      "draws": ro.draws,
  }
  if steps is not None:
    stats["prm_step_score"] = float(steps[0][steps[2]].mean()) if steps[
        2].any() else 0.0
    stats["prm_steps"] = float(steps[2].sum(1).mean())
  return batch, stats


def trim(ro: rollout_lib.Rollout, prompt_len: int, completion_len: int
         ) -> rollout_lib.Rollout:
  """Drops all-padding columns: prompt and completion slots to multiples of
  8, from the longest prompt and completion of the whole batch. Few distinct shapes, so few compilations, and the learner's
  passes cost what the text needs, not the sampling budget.
  """
  pl = encoding.round_up(prompt_len, 8, ro.prompt_ids.shape[1])
  n = encoding.round_up(completion_len, 8, ro.tokens.shape[1])
  return dataclasses.replace(ro, prompt_ids=ro.prompt_ids[:, -pl:],
                             prompt_valid=ro.prompt_valid[:, -pl:],
                             tokens=ro.tokens[:, :n], mask=ro.mask[:, :n])


def _update(state, batch: Batch, step_fn, take_fn, rc, rng):
  """``num_updates`` passes of shuffled minibatches; mean metrics."""
  b = batch.tokens.shape[0]
  mb = min(rc.minibatch_size, b)
  all_m = []
  for epoch in range(rc.num_updates):
    perm = jax.random.permutation(jax.random.fold_in(rng, epoch), b)
    for s in range(0, b - mb + 1, mb):
      state, m = step_fn(state, take_fn(batch, perm[s:s + mb]))
      all_m.append(m)
  return state, jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *all_m)
