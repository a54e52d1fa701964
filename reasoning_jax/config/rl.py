"""RL: the algorithm and its shaping, process rewards and sampling.

``rl.algorithm`` picks a record of ``rl/algorithms.ALGORITHMS``; the fields
it presets (``algorithms.PRESET_FIELDS``: advantage estimator, loss
reduction, KL beta, clip range, dynamic sampling, overlong buffer) are
unset here, and ``resolve`` fills each from the algorithm unless the config
names a value. ``--config.rl.algorithm=dapo`` is DAPO as published;
``--config.rl.algorithm=dapo --config.rl.kl_beta=0.04`` DAPO with a KL term.
"""

import ml_collections
from ml_collections import config_dict

from reasoning_jax.config.checks import check
from reasoning_jax.config.checks import finite
from reasoning_jax.config.checks import one_of
from reasoning_jax.config.checks import optimizer
from reasoning_jax.config.checks import positive_ints
from reasoning_jax.rewards import aggregate
from reasoning_jax.rl import advantages
from reasoning_jax.rl import algorithms
from reasoning_jax.rl import losses


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  # RL from the previous stage's policy; algorithm: rl/algorithms.ALGORITHMS.
  c.rl = dict(
      algorithm="grpo",
      steps=150,
      num_prompts=16,
      group_size=8,
      temperature=0.7,
      top_k=0,
      top_p=1.0,
      num_updates=1,
      minibatch_size=128,  # passes and sequences per step.
      # Each minibatch's gradient in this many sequential chunks (same step,
      # 1/k of the activation memory; on CPU also faster, BENCHMARKS.md).
      # On a mesh keep minibatch_size / microbatches a multiple of the
      # data-parallel devices (each chunk spreads over them).
      microbatches=1,
      learning_rate=3e-5,
      critic_lr=1e-4,
      warmup_steps=0,
      weight_decay=0.0,
      b1=0.9,
      b2=0.999,
      max_grad_norm=1.0,
      # Preset by the algorithm (None: its value; see ``resolve``).
      clip_eps=config_dict.placeholder(float),
      clip_eps_high=config_dict.placeholder(float),  # 0: same as clip_eps.
      kl_beta=config_dict.placeholder(float),
      advantage=config_dict.placeholder(str),  # advantages.GROUP_ADVANTAGES
      loss_reduction=config_dict.placeholder(str),  # losses.REDUCTIONS
      dynamic_sampling=config_dict.placeholder(bool),  # on accuracy (DAPO).
      overlong_buffer=config_dict.placeholder(int),  # -1: fit the task.
      std_floor=0.1,
      # consistency: R1's language-consistency reward, here the share of
      # thinking lines in the task's step syntax (rewards.consistency_reward).
      accuracy_weight=1.0,
      format_weight=0.0,
      consistency_weight=0.0,
      mask_truncated=False,  # DAPO overlong filtering.
      max_draws=4,  # DAPO dynamic sampling.
      gamma=1.0,
      lam=0.95,
      value_coef=0.5,
      value_clip=0.2,  # PPO.
      entropy_coef=0.0,
      whiten_advantages=True,
      # Process rewards from a PRM saved by reasoning_jax.verify ("" = none):
      # "sequence" adds weight x aggregate(step scores) to each sequence's
      # reward; "step" adds per-step rewards (GRPO: group-normalised, summed
      # from each token's step to the end; PPO: at the boundaries, into GAE).
      prm_path="",
      prm_weight=0.0,
      prm_mode="sequence",
      prm_aggregate="min",
      prm_max_steps=8,
      eval_every=50,
  )
  return c


def resolve(rc, algorithm: str = "") -> ml_collections.FrozenConfigDict:
  """The ``rl`` section ``rc`` as an algorithm runs it: ``algorithm``
  (default ``rc.algorithm``) and every unset ``PRESET_FIELDS`` field taken
  from its preset (``algorithms.preset``). A new read-only section; ``rc``
  is not changed."""
  values = rc.to_dict()
  values["algorithm"] = algorithm or values["algorithm"]
  if values["algorithm"] not in algorithms.ALGORITHMS:
    return ml_collections.FrozenConfigDict(values)  # validate names it.
  for name, value in algorithms.preset(values["algorithm"]).items():
    if values[name] is None:
      values[name] = value
  return ml_collections.FrozenConfigDict(values)


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section (as
  ``resolve`` gives it); the names of the accepted strings come from the
  code."""
  one_of(config.rl, "rl", "algorithm", tuple(algorithms.ALGORITHMS))
  r = resolve(config.rl)
  _validate_process_rewards(r)
  _validate_batch(r, config.model.vocab_size)
  _validate_objective(r)


def _validate_process_rewards(r) -> None:
  """Process rewards from a PRM."""
  one_of(r, "rl", "prm_mode", algorithms.PRM_MODES)
  one_of(r, "rl", "prm_aggregate", aggregate.HOW)
  check(
      r.prm_weight == 0 or bool(r.prm_path),
      "rl.prm_weight",
      "needs rl.prm_path (a PRM saved by reasoning_jax.verify)",
      r.prm_weight,
  )
  check(
      isinstance(r.prm_max_steps, int) and r.prm_max_steps > 0,
      "rl.prm_max_steps",
      "must be a positive integer",
      r.prm_max_steps,
  )


def _validate_objective(r) -> None:
  """The algorithm, advantage estimator, loss terms and optimizer."""
  one_of(r, "rl", "advantage", tuple(advantages.GROUP_ADVANTAGES))
  one_of(r, "rl", "loss_reduction", tuple(losses.REDUCTIONS))
  check(0 < r.clip_eps < 1, "rl.clip_eps", "must be in (0, 1)", r.clip_eps)
  optimizer(r, "rl", ("learning_rate", "critic_lr"))
  for f in ("value_coef", "entropy_coef", "value_clip"):
    check(
        finite(r[f]) and r[f] >= 0,
        f"rl.{f}",
        "must be a finite number >= 0",
        r[f],
    )
  check(
      r.clip_eps_high >= 0, "rl.clip_eps_high", "must be >= 0", r.clip_eps_high
  )
  check(
      isinstance(r.overlong_buffer, int) and r.overlong_buffer >= -1,
      "rl.overlong_buffer",
      "must be an integer >= 0, or -1 (fit the task)",
      r.overlong_buffer,
  )
  check(
      r.algorithm != "gspo" or not (r.prm_mode == "step" and r.prm_weight),
      "rl.prm_mode",
      "gspo takes one advantage per sequence: use prm_mode=sequence",
      r.prm_mode,
  )
  check(r.kl_beta >= 0, "rl.kl_beta", "must be >= 0", r.kl_beta)
  check(
      0 < r.gamma <= 1 and 0 <= r.lam <= 1,
      "rl.gamma/lam",
      "need 0 < gamma <= 1 and 0 <= lam <= 1",
      (r.gamma, r.lam),
  )


def _validate_batch(r, vocab_size: int) -> None:
  """Step counts, batch shape and sampling."""
  positive_ints(
      r,
      "rl",
      (
          "steps",
          "num_prompts",
          "num_updates",
          "minibatch_size",
          "microbatches",
          "max_draws",
          "eval_every",
      ),
  )
  check(
      r.group_size >= 2,
      "rl.group_size",
      "must be >= 2 (group statistics)",
      r.group_size,
  )
  check(
      (r.num_prompts * r.group_size) % r.minibatch_size == 0,
      "rl.minibatch_size",
      f"must divide num_prompts*group_size={r.num_prompts * r.group_size}",
      r.minibatch_size,
  )
  check(
      r.minibatch_size % r.microbatches == 0,
      "rl.microbatches",
      f"must divide rl.minibatch_size={r.minibatch_size}",
      r.microbatches,
  )
  check(
      finite(r.temperature) and r.temperature > 0,
      "rl.temperature",
      "must be a finite number > 0",
      r.temperature,
  )
  check(0 < r.top_p <= 1, "rl.top_p", "must be in (0, 1]", r.top_p)
  check(
      isinstance(r.top_k, int) and 0 <= r.top_k <= vocab_size,
      "rl.top_k",
      f"must be an integer in [0, model.vocab_size={vocab_size}] (0: off)",
      r.top_k,
  )
