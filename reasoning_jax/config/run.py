"""Run-wide fields: seed, stage list, evaluation, checkpoints, logging, mesh."""

import ml_collections

from reasoning_jax.config.checks import check

STAGES = ("pretrain", "sft", "rl", "rs", "distill", "budget")


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  # Comma-separated, run in order: pretrain (a base model), sft, rl, rs
  # (rejection-sampling SFT), distill (SFT on a teacher's verified traces),
  # budget (evaluation under s1 budget forcing). A stage's checkpoint is its
  # name (rl: rl_<algorithm>), with _2, _3 ... on repeats; a rerun skips the
  # stages that finished.
  c.stages = "sft"
  # Final evaluations read the first num_problems distinct test problems;
  # periodic ones (every `every` steps) the first periodic_problems distinct
  # dev problems (the split for every choice).
  c.eval = dict(
      num_problems=1024, batch_size=256, every=100, periodic_problems=256
  )
  c.checkpoint = dict(every=100, keep=2)
  c.log_every = 20
  c.mesh = dict(data=-1, fsdp=1, tensor=1)
  c.logical_axis_rules = (
      ("batch", ("data", "fsdp")),
      ("vocab", "tensor"),
      ("embed", "fsdp"),
      ("heads", "tensor"),
      ("kv_heads", "tensor"),
      ("head_dim", None),
      ("mlp", "tensor"),
  )
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section."""
  _validate_stages(config)
  _validate_run(config)


def _validate_stages(config) -> None:
  """Stage names."""
  stages = [s for s in config.stages.split(",") if s]
  for s in stages:
    check(
        s in STAGES,
        "stages",
        f"unknown stage {s!r}; known: {STAGES}",
        config.stages,
    )


def _validate_run(config) -> None:
  """Evaluation, checkpoints, logging and the mesh."""
  e = config.eval
  for f in ("num_problems", "batch_size", "every", "periodic_problems"):
    check(e[f] > 0, f"eval.{f}", "must be > 0", e[f])
  check(
      config.checkpoint.every > 0,
      "checkpoint.every",
      "must be > 0",
      config.checkpoint.every,
  )
  check(
      config.checkpoint.keep > 0,
      "checkpoint.keep",
      "must be > 0",
      config.checkpoint.keep,
  )
  check(config.log_every > 0, "log_every", "must be > 0", config.log_every)
  sizes = [config.mesh[a] for a in ("data", "fsdp", "tensor")]
  check(
      sizes.count(-1) <= 1 and all(x == -1 or x > 0 for x in sizes),
      "mesh",
      "sizes must be positive, at most one -1",
      dict(config.mesh),
  )
