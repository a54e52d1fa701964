"""reasoning_jax.bench: the benchmark workload."""

import ml_collections

from reasoning_jax.config.checks import check
from reasoning_jax.config.checks import finite
from reasoning_jax.config.checks import positive_ints
from reasoning_jax.rl import algorithms


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  # reasoning_jax.bench: repetitions, workload prompt seed, device peak FLOP/s
  # (0: measure a matmul), memory bandwidth in bytes/s (0: measure a copy),
  # algorithms, rollout batch (0: P * G).
  c.bench = dict(
      warmup_reps=1,
      timed_reps=7,
      prompt_seed=1234,
      peak_flops=0.0,
      peak_bandwidth=0.0,
      algorithms="grpo,ppo",
      rollout_batch=0,
      notes="",
  )
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section."""
  b = config.bench
  for f in ("warmup_reps", "rollout_batch"):
    check(
        isinstance(b[f], int) and b[f] >= 0,
        f"bench.{f}",
        "must be an integer >= 0",
        b[f],
    )
  positive_ints(b, "bench", ("timed_reps",))
  for f in ("peak_flops", "peak_bandwidth"):
    check(
        finite(b[f]) and b[f] >= 0,
        f"bench.{f}",
        "must be a finite number >= 0 (0: measure)",
        b[f],
    )
  for a in [a for a in b.algorithms.split(",") if a]:
    check(
        a in algorithms.ALGORITHMS,
        "bench.algorithms",
        f"unknown algorithm {a!r}; known: {tuple(algorithms.ALGORITHMS)}",
        b.algorithms,
    )
