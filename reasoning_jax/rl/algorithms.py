"""The RL algorithms, one record each, in one table (``ALGORITHMS``).

An algorithm is two functions and a flag:

  prepare_fn  how a scored rollout becomes advantages (and a critic's
              targets): whole-batch host arrays in, arrays on the batch
              sharding out (``PrepareInputs`` -> ``Advantages``);
  loss_fn     the step's loss on one minibatch, under jit
              (``LossInputs`` -> (loss, metrics));
  trains_critic  whether a value model is trained beside the policy (the
              learner then builds it, passes its values in, and gives it an
              optimizer).

Both functions read their hyper-parameters from one ``Settings`` record.
Adding an algorithm is adding one entry here and its own pure functions
(estimators in ``rl/advantages.py``, losses in ``rl/losses.py``).

Dimensions: P prompts, G samples per prompt, B = P·G sequences (each
group's rows adjacent), T completion tokens, S reasoning steps.
"""

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from reasoning_jax.rl import advantages
from reasoning_jax.rl import losses

# How PRM step scores enter RL: "sequence" adds ``prm_weight`` × their
# aggregate to each sequence's reward (``train/rollout.py``); "step" adds
# per-step rewards inside the advantages (``prepare_group``, ``token_rewards``).
PRM_MODES = ("sequence", "step")


class Settings(NamedTuple):
  """The hyper-parameters an algorithm's functions read (``config.rl``'s
  fields of the same names; hashable, so a jitted step holds numbers)."""

  advantage: str  # a key of ``advantages.GROUP_ADVANTAGES``.
  std_floor: float
  gamma: float
  lam: float
  whiten_advantages: bool
  prm_mode: str  # one of PRM_MODES.
  prm_weight: float
  clip_eps: float
  clip_eps_high: float  # 0: clip_eps.
  kl_beta: float
  loss_reduction: str  # a key of ``losses.REDUCTIONS``.
  value_coef: float
  value_clip: float
  entropy_coef: float
  # The generation budget: the "constant" reduction's T_max (None: the
  # batch's own length).
  max_tokens: int | None


def policy_kwargs(s: Settings) -> dict:
  """The keyword arguments of the clipped policy losses."""
  return dict(
      clip_eps=s.clip_eps,
      clip_eps_high=s.clip_eps_high or None,
      kl_beta=s.kl_beta,
      reduction=s.loss_reduction,
      max_tokens=s.max_tokens,
  )


class StepRewards(NamedTuple):
  """A PRM's step scores, [B, S] each (``rl.prm_path``)."""

  scores_bs: np.ndarray  # float32 P(step on track).
  pos_bs: np.ndarray  # int32 the step boundary's index into the tokens.
  valid_bs: np.ndarray  # bool


class PrepareInputs(NamedTuple):
  """What an algorithm's preparation reads: every process's rows."""

  rewards_b: np.ndarray  # [B] float32 shaped rewards (host).
  lengths_b: np.ndarray  # [B] int completion tokens (host).
  valid_bt: jax.Array  # [B, T] bool generated tokens (batch-sharded).
  values_bt: jax.Array | None  # [B, T] critic V(s_t); None without one.
  steps: StepRewards | None  # PRM step rewards (host), or None.
  group_size: int
  # A whole-batch host array [B, ...] -> the global batch-sharded array
  # (each process puts its own rows).
  to_global: Callable[[np.ndarray], jax.Array]


class Advantages(NamedTuple):
  """What an algorithm's preparation gives the learner."""

  adv: jax.Array  # [B] (one per sequence) or [B, T] (per token), sharded.
  keep_b: np.ndarray | None  # [B] bool: False drops a row's loss; None all.
  returns_bt: jax.Array | None  # [B, T] the critic's targets, or None.
  stats: dict  # adv_mean, adv_std, adv_abs_max.


class LossInputs(NamedTuple):
  """One minibatch's arrays as an algorithm's step loss reads them."""

  logp_bt: jax.Array  # [B, T] the trained policy's log-probs.
  entropy_bt: jax.Array  # [B, T] its entropies.
  old_logp_bt: jax.Array  # [B, T] the sampling policy's.
  ref_logp_bt: jax.Array  # [B, T] the reference policy's.
  mask_bt: jax.Array  # [B, T] bool tokens in the loss.
  adv: jax.Array  # [B] or [B, T]
  values_bt: jax.Array | None  # [B, T] the critic's now (trains_critic).
  old_values_bt: jax.Array | None  # [B, T] at preparation (trains_critic).
  returns_bt: jax.Array | None  # [B, T] (trains_critic).


PrepareFn = Callable[[PrepareInputs, Settings], Advantages]
LossFn = Callable[[LossInputs, Settings], tuple[jax.Array, dict]]


class Algorithm(NamedTuple):
  """One RL algorithm (see the module docstring)."""

  prepare_fn: PrepareFn
  loss_fn: LossFn
  trains_critic: bool
  # Its paper's values of the ``PRESET_FIELDS`` that differ from
  # ``PRESET_BASE``; a config that names a value overrides them.
  defaults: Mapping[str, Any]
  paper: str  # where it comes from, and what this entry takes from it.


# The ``config.rl`` fields an algorithm presets. The config leaves them unset
# (None); ``config/rl.resolve`` takes the algorithm's value, else this base.
PRESET_BASE = {
    "advantage": "grpo",  # a key of ``advantages.GROUP_ADVANTAGES``.
    "loss_reduction": "token_mean",  # a key of ``losses.REDUCTIONS``.
    "kl_beta": 0.0,
    "clip_eps": 0.2,
    "clip_eps_high": 0.0,  # 0: clip_eps.
    "dynamic_sampling": False,
    "overlong_buffer": 0,  # -1: fit the task (``train/rl.py``).
}
PRESET_FIELDS = tuple(PRESET_BASE)


def preset(algorithm: str) -> dict:
  """``algorithm``'s value of every ``PRESET_FIELDS`` field."""
  return {**PRESET_BASE, **ALGORITHMS[algorithm].defaults}


def prepare_group(x: PrepareInputs, s: Settings) -> Advantages:
  """Group-relative advantages, one per sequence (Shao et al. 2024):
  ``s.advantage``'s estimator over each group's rewards, whose keep mask
  drops skipped groups; with PRM rewards under ``prm_mode="step"``,
  ``prm_weight`` × per-token process advantages added (DeepSeekMath
  §4.1.3)."""
  adv_pg, keep_pg = advantages.GROUP_ADVANTAGES[s.advantage](
      x.rewards_b.reshape(-1, x.group_size), std_floor=s.std_floor
  )
  adv = np.asarray(adv_pg).reshape(-1)
  if x.steps is not None and s.prm_mode == "step":
    adv = adv[:, None] + s.prm_weight * np.asarray(
        advantages.process_advantages(
            x.steps.scores_bs,
            x.steps.pos_bs,
            x.steps.valid_bs,
            x.group_size,
            x.valid_bt.shape[1],
        )
    )
  return Advantages(
      adv=x.to_global(adv),
      keep_b=np.asarray(keep_pg).reshape(-1),
      returns_bt=None,
      stats={
          "adv_mean": adv.mean(),
          "adv_std": adv.std(),
          "adv_abs_max": np.abs(adv).max(),
      },
  )


def token_rewards(x: PrepareInputs, s: Settings) -> np.ndarray:
  """[B, T] float32: each sequence's reward on its last generated token,
  plus (``prm_mode="step"``) ``prm_weight`` × each PRM step score at its
  boundary."""
  b, t = x.valid_bt.shape
  out = np.zeros((b, t), np.float32)
  last = np.maximum(np.asarray(x.lengths_b, np.int64) - 1, 0)
  out[np.arange(b), last] = x.rewards_b
  if x.steps is not None and s.prm_mode == "step":
    ok = x.steps.valid_bs
    np.add.at(
        out,
        (np.nonzero(ok)[0], x.steps.pos_bs[ok]),
        s.prm_weight * x.steps.scores_bs[ok],
    )
  return out


def prepare_gae(x: PrepareInputs, s: Settings) -> Advantages:
  """PPO's advantages (Schulman et al. 2017): GAE over the critic's values
  on ``token_rewards`` (``gamma``, ``lam``), and (``whiten_advantages``)
  normalised over the batch's valid tokens; the returns are the critic's
  targets."""
  assert x.values_bt is not None, "GAE needs the critic's values"
  adv, returns = advantages.gae_advantages(
      x.to_global(token_rewards(x, s)),
      x.values_bt,
      x.valid_bt,
      gamma=s.gamma,
      lam=s.lam,
  )
  mu, sd = advantages.masked_mean_std(adv, x.valid_bt)
  stats = {"adv_mean": float(mu), "adv_std": float(sd)}
  if s.whiten_advantages:
    adv = (adv - mu) / (sd + 1e-6) * x.valid_bt.astype(jnp.float32)
  stats["adv_abs_max"] = float(jnp.abs(adv).max())
  return Advantages(adv=adv, keep_b=None, returns_bt=returns, stats=stats)


def clipped_policy_loss(x: LossInputs, s: Settings):
  """GRPO's step loss: the clipped surrogate on per-sequence (or per-token)
  advantages + β·k3 KL (``losses.grpo_loss``); no critic."""
  return losses.grpo_loss(
      x.logp_bt,
      x.old_logp_bt,
      x.ref_logp_bt,
      x.adv,
      x.mask_bt,
      **policy_kwargs(s),
  )


def sequence_ratio_loss(x: LossInputs, s: Settings):
  """GSPO's step loss: one clipped importance ratio per sequence on its
  group-relative advantage + β·k3 KL (``losses.gspo_loss``)."""
  assert x.adv.ndim == 1, "GSPO takes one advantage per sequence"
  return losses.gspo_loss(
      x.logp_bt,
      x.old_logp_bt,
      x.ref_logp_bt,
      x.adv,
      x.mask_bt,
      **policy_kwargs(s),
  )


def actor_critic_loss(x: LossInputs, s: Settings):
  """PPO's step loss: the clipped surrogate on per-token advantages, the
  critic's clipped value loss and the entropy bonus (``losses.ppo_loss``)."""
  return losses.ppo_loss(
      x.logp_bt,
      x.old_logp_bt,
      x.ref_logp_bt,
      x.adv,
      x.mask_bt,
      x.values_bt,
      x.old_values_bt,
      x.returns_bt,
      x.entropy_bt,
      value_coef=s.value_coef,
      value_clip=s.value_clip,
      entropy_coef=s.entropy_coef,
      **policy_kwargs(s),
  )


# ``rl.algorithm`` -> its record: the only place the algorithm axis is decided.
ALGORITHMS = {
    "grpo": Algorithm(
        prepare_fn=prepare_group,
        loss_fn=clipped_policy_loss,
        trains_critic=False,
        defaults={"loss_reduction": "seq_mean", "kl_beta": 0.04},
        paper=(
            "Shao et al. 2024 (DeepSeekMath): std-normalised group "
            "advantages, per-sequence token mean, k3 KL with beta 0.04"
        ),
    ),
    "dr_grpo": Algorithm(
        prepare_fn=prepare_group,
        loss_fn=clipped_policy_loss,
        trains_critic=False,
        defaults={"advantage": "dr_grpo", "loss_reduction": "constant"},
        paper=(
            "Liu et al. 2025 (Understanding R1-Zero-like training): group "
            "mean baseline without the std, token sums over a fixed "
            "constant (the generation budget), no KL"
        ),
    ),
    "dapo": Algorithm(
        prepare_fn=prepare_group,
        loss_fn=clipped_policy_loss,
        trains_critic=False,
        defaults={
            "clip_eps_high": 0.28,
            "dynamic_sampling": True,
            "overlong_buffer": -1,
        },
        paper=(
            "Yu et al. 2025 (DAPO): clip-higher (0.2 / 0.28), dynamic "
            "sampling of groups with mixed accuracy, token mean, a soft "
            "overlong penalty past the task's longest solution, no KL"
        ),
    ),
    "gspo": Algorithm(
        prepare_fn=prepare_group,
        loss_fn=sequence_ratio_loss,
        trains_critic=False,
        defaults={
            "loss_reduction": "seq_mean",
            "clip_eps": 3e-4,
            "clip_eps_high": 4e-4,
        },
        paper=(
            "Zheng et al. 2025 (GSPO): a length-normalised sequence ratio "
            "clipped at 3e-4 / 4e-4, group advantages, mean over sequences"
        ),
    ),
    "rloo": Algorithm(
        prepare_fn=prepare_group,
        loss_fn=clipped_policy_loss,
        trains_critic=False,
        defaults={"advantage": "rloo"},
        paper=(
            "Ahmadian et al. 2024 (Back to Basics): a leave-one-out baseline "
            "(no std), REINFORCE on-policy (the clipped surrogate off-policy), "
            "token mean, no KL"
        ),
    ),
    "reinforce_pp": Algorithm(
        prepare_fn=prepare_group,
        loss_fn=clipped_policy_loss,
        trains_critic=False,
        defaults={"advantage": "batch_norm", "kl_beta": 0.01},
        paper=(
            "Hu 2025 (REINFORCE++): rewards normalised over the whole batch, "
            "no group baseline, the clipped surrogate, token mean; KL 0.01 "
            "as a k3 loss term (the paper puts it in the reward)"
        ),
    ),
    "ppo": Algorithm(
        prepare_fn=prepare_gae,
        loss_fn=actor_critic_loss,
        trains_critic=True,
        defaults={},
        paper=(
            "Schulman et al. 2017 (PPO): a critic (the policy's backbone "
            "plus a value head) and GAE (rl.gamma, rl.lam; lam = 1 is "
            "Monte-Carlo), whitened advantages, clipped value loss, no KL"
        ),
    ),
}
