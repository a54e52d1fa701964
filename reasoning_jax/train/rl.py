"""The RL stage: the algorithm of ``config.rl.algorithm`` (``rl/algorithms.py``).

Each step, top to bottom:
  1. rollout   P fresh prompts × G samples (jitted sampler), rule rewards
               and optional PRM step scores (``train/rollout.py``)
  2. learn     log-probs, advantages and ``num_updates`` passes of jitted
               steps (``train/learner.py``)
  3. log, evaluate, checkpoint; SIGTERM saves and stops.

The reference policy is the frozen start.
"""

import functools
import time

import jax
import ml_collections

from reasoning_jax.config import rl as rl_config
from reasoning_jax.train import checkpoint
from reasoning_jax.train import learner
from reasoning_jax.train import learner_step
from reasoning_jax.train import loop
from reasoning_jax.train import rollout as rollout_lib
from reasoning_jax.train import state as state_lib
from reasoning_jax.verifiers import reward_model


def run_rl(ctx, params, *, stage: str | None = None, algorithm: str = ""):
  """The RL stage from ``params`` (the SFT policy) under ``algorithm``
  (default ``rl.algorithm``; a key of ``rl/algorithms.ALGORITHMS``),
  checkpointed as ``stage`` (default ``rl_<algorithm>``). Every other
  setting is ``config.rl``'s, the unset ones the algorithm's
  (``rl_section``). Returns (params, result)."""
  cfg = ctx.config
  rc = rl_section(ctx, algorithm)
  stage = stage or f"rl_{rc.algorithm}"
  state, ref_params, fns = learner_for(ctx, params, rc)
  batch_sh = ctx.batch_sharding
  sample_fn = ctx.sampler(
      top_k=rc.top_k, top_p=rc.top_p, group_size=rc.group_size
  )  # prefix sharing.
  prm_scorer = _prm_scorer(ctx, rc)

  def prompts(position, start, k):  # fresh: problems not in the cold start.
    return [ctx.fresh_example(position + start + i) for i in range(k)]

  def step_fn(state, i):
    """Rollout, then learn; ``i`` counts RL steps (``state.step`` counts
    optimizer updates)."""
    position = int(state.data_position)
    rng = jax.random.fold_in(jax.random.PRNGKey(cfg.seed + 2), i)
    ro, drawn = rollout_lib.rollout(
        ctx,
        state.params["policy"],
        sample_fn,
        functools.partial(prompts, position),
        rng,
        rc=rc,
        process_reward=prm_scorer,
    )
    t_upd = time.perf_counter()
    state = state.replace(data_position=state.data_position + drawn.consumed)
    state, m = learner.learn(state, ro, ref_params, fns, rc, batch_sh, rng)
    m["draws"] = drawn.draws
    m.update(
        _speeds(m["length"], drawn.seconds, time.perf_counter() - t_upd, rc)
    )
    return state, m

  state, result = loop.run_policy_stage(
      ctx,
      stage,
      state,
      step_fn,
      steps=rc.steps,
      policy=lambda st: st.params["policy"],
      updates_per_step=learner_step.updates_per_step(rc),
      write_every=1,
      log_keys=("reward_mean", "accuracy", "kl", "loss"),
      eval_every=rc.eval_every,
      final_extra=lambda st, _: {
          "state_bytes": state_lib.tree_bytes((st.params, st.opt_state))
      },
  )
  return state.params["policy"], result


def rl_section(ctx, algorithm: str = ""):
  """``config.rl`` as ``algorithm`` runs it (``config/rl.resolve``); DAPO's
  overlong buffer of -1 is fitted to the task: the generation budget minus
  the longest reference completion (tokens, eos included) of 256 train
  problems past the cold start, so no complete solution is penalised."""
  rc = rl_config.resolve(ctx.config.rl, algorithm)
  if rc.overlong_buffer >= 0:
    return rc
  longest = max(
      len(ctx.tok.encode(ctx.fresh_example(i).solution)) + 1 for i in range(256)
  )
  budget = ctx.config.data.max_new_tokens
  return ml_collections.FrozenConfigDict(
      {**rc.to_dict(), "overlong_buffer": max(0, budget - longest)}
  )


def learner_for(ctx, params, rc):
  """(state, reference policy, ``LearnerFns``) of the resolved section
  ``rc``'s algorithm from the policy ``params``, on this run's mesh."""
  cfg, algorithm = ctx.config, rc.algorithm
  seq_len = cfg.data.max_prompt_len + cfg.data.max_new_tokens
  state, state_sh, critic, tx = learner_step.build_learner(
      ctx.model,
      params,
      rc,
      ctx.mesh,
      ctx.rules,
      seq_len,
      cfg.seed + 1,
      algorithm=algorithm,
  )
  fns = learner_step.make_learner_fns(
      ctx.model,
      critic,
      tx,
      rc,
      state_sh,
      ctx.batch_sharding,
      algorithm=algorithm,
      max_tokens=cfg.data.max_new_tokens,
  )
  return state, learner_step.reference_copy(state, state_sh), fns


def _speeds(length, rollout_s: float, update_s: float, rc) -> dict:
  """Tokens per second of the rollout and of the update's passes."""
  tokens = length * rc.num_prompts * rc.group_size
  return dict(
      rollout_tokens_per_s=tokens / rollout_s,
      update_tokens_per_s=tokens * rc.num_updates / update_s,
      rollout_s=rollout_s,
      update_s=update_s,
  )


def _prm_scorer(ctx, rc):
  """The PRM step scorer of ``rl.prm_path`` (saved by reasoning_jax.verify),
  or None."""
  if not rc.prm_path:
    return None
  prm = reward_model.reward_model(ctx.model.cfg)
  return reward_model.make_process_reward(
      prm,
      checkpoint.read_params(rc.prm_path, reward_model.abstract_params(prm)),
      rc.prm_max_steps,
      think_id=ctx.tok.piece_id("<think>"),
      close_id=ctx.tok.piece_id("</think>"),
      newline_id=ctx.tok.piece_id("\n"),
  )
