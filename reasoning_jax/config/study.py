"""reasoning_jax.compare: a study of RL variants over seeds."""

import ml_collections

from reasoning_jax.config.checks import check
from reasoning_jax.config.checks import finite
from reasoning_jax.config.checks import positive_ints


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  # reasoning_jax.compare: each variant's RL stage from each seed's cold start
  # (shared by the variants), at each level of one cold-start axis.
  #   variants: comma-separated; an algorithm name (rl/algorithms.ALGORITHMS)
  #     or ``algorithm@field=value@field=value`` (e.g. ppo@rl.lam=1.0).
  #   regimes: on_policy (one pass over the batch as one minibatch) and/or
  #     off_policy (``off_policy_updates`` passes over
  #     ``off_policy_minibatches`` minibatches: the clip acts).
  #   axis / levels: a config field that defines the cold start (e.g.
  #     sft.bare_share: how rarely short chains get worked solutions, i.e.
  #     how hard exploration is) and its values; "" / "": none.
  #   levels: each a value, or a value with cold-start fields of its own
  #     ("0.97@sft.steps=1200": a schedule long enough for that level).
  #   learning_rates: "algorithm=lr,..." or "algorithm:regime=lr": each
  #     algorithm's rl.learning_rate (in that regime) where its variant does
  #     not set one (chosen on dev: configs/compare.py).
  #   reference: the variant every other is paired against, per seed.
  #   threshold: dev pass@1 for steps- and samples-to-threshold.
  #   margin: equivalence margin on the paired test pass@1 difference.
  #   passk_*: pass@k (k = 1, 2, 4, ... passk_n) before and after RL on the
  #     first passk_problems test problems, at passk_temperature.
  #   probe_*: the gradient-variance probe (experiments/rl_probes.py) at
  #     each seed's cold start of the first level: group sizes ("" = off),
  #     prompts per rollout, rollouts per group size.
  # name: the report files' stem (<workdir>/<name>.{json,md,png}): studies
  # may share a workdir (and so cold starts and finished variants).
  c.study = dict(
      name="study",
      variants="grpo,ppo",
      regimes="on_policy",
      off_policy_updates=2,
      off_policy_minibatches=4,
      axis="",
      levels="",
      seeds="0,1,2",
      learning_rates="",
      reference="grpo",
      threshold=0.8,
      margin=0.02,
      passk_problems=128,
      passk_n=32,
      passk_temperature=1.0,
      probe_group_sizes="",
      probe_prompts=8,
      probe_repeats=16,
  )
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section (the
  variants' names are checked by ``compare`` against the algorithm table,
  which the config does not import twice)."""
  s = config.study
  positive_ints(
      s,
      "study",
      (
          "off_policy_updates",
          "off_policy_minibatches",
          "passk_problems",
          "passk_n",
          "probe_prompts",
          "probe_repeats",
      ),
  )
  try:
    sizes = [int(x) for x in s.probe_group_sizes.split(",") if x]
  except ValueError:
    sizes = [0]
  check(
      all(g >= 2 for g in sizes) and len(sizes) != 1,
      "study.probe_group_sizes",
      "must be empty or two or more integers >= 2",
      s.probe_group_sizes,
  )
  check(
      bool(s.name) and "/" not in s.name,
      "study.name",
      "must be a file stem (no '/')",
      s.name,
  )
  check(
      0 < s.threshold <= 1, "study.threshold", "must be in (0, 1]", s.threshold
  )
  check(
      finite(s.margin) and s.margin > 0,
      "study.margin",
      "must be a number > 0",
      s.margin,
  )
  check(
      finite(s.passk_temperature) and s.passk_temperature > 0,
      "study.passk_temperature",
      "must be a number > 0",
      s.passk_temperature,
  )
  for r in (x for x in s.regimes.split(",") if x):
    check(
        r in ("on_policy", "off_policy"),
        "study.regimes",
        f"unknown regime {r!r}; known: on_policy, off_policy",
        s.regimes,
    )
  check(
      bool(s.axis) == bool(s.levels),
      "study.levels",
      "give an axis and its levels together, or neither",
      (s.axis, s.levels),
  )
  try:
    learning_rates(s)
  except ValueError:
    check(
        False,
        "study.learning_rates",
        "must be comma-separated algorithm=number entries",
        s.learning_rates,
    )
  try:
    [int(x) for x in s.seeds.split(",") if x]
  except ValueError:
    check(False, "study.seeds", "must be comma-separated integers", s.seeds)


def learning_rates(study) -> dict[str, float]:
  """``study.learning_rates`` as {"algorithm" or "algorithm:regime":
  learning rate}; a later entry for the same key wins."""
  out = {}
  for entry in (x for x in study.learning_rates.split(",") if x):
    name, eq, value = entry.partition("=")
    if not eq or not name:
      raise ValueError(entry)
    out[name.strip()] = float(value)
  return out
