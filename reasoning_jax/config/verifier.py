"""reasoning_jax.verify: traces, labels, ORM / PRM / generative and likelihood verifiers."""

import ml_collections

from reasoning_jax.config.checks import check
from reasoning_jax.config.checks import positive_ints
from reasoning_jax.verifiers import registry

# The stages of reasoning_jax.verify: traces, their labels, one per trained
# verifier (verifiers/registry.py), then the evaluation.
VERIFIER_STAGES = ("traces", "label", *registry.VERIFIERS, "eval")


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  # reasoning_jax.verify: traces from the SFT policy (or the one in
  # policy_workdir), Math-Shepherd labels (K continuations per step prefix),
  # then ORM / PRM training and their evaluation; see configs/verifier.py.
  c.verifier = dict(
      stages=",".join(VERIFIER_STAGES),
      policy_workdir="",
      train_problems=512,
      eval_problems=256,
      samples_per_problem=4,
      temperature=1.0,
      ms_k=4,
      ms_temperature=1.0,
      batch_size=256,
      ms_label="hard",
      max_steps=8,
      rm_steps=150,
      rm_batch_size=32,
      rm_learning_rate=1e-4,
      # ORM/PRM objective: bce, or bce+pairwise (plus a within-problem
      # Bradley-Terry term on each trace's outcome logit).
      rm_loss="bce",
      # Likelihood verifier (stage lmv): an LM trained from scratch on
      # lm_examples fresh gold solutions in lm_steps steps, shaped like the
      # policy but for the nonzero lm_model fields.
      lm_examples=96_000,
      lm_steps=1500,
      lm_learning_rate=3e-3,
      lm_batch_size=64,
      lm_model=dict(
          d_model=0, n_layers=0, n_heads=0, n_kv_heads=0, head_dim=0, d_ff=0
      ),
  )
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section."""
  _validate_verifier(config)


def _validate_verifier(config) -> None:
  """reasoning_jax.verify."""
  v = config.verifier
  for s in [s for s in v.stages.split(",") if s]:
    check(
        s in VERIFIER_STAGES,
        "verifier.stages",
        f"unknown stage {s!r}; known: {VERIFIER_STAGES}",
        v.stages,
    )
  positive_ints(
      v,
      "verifier",
      (
          "train_problems",
          "eval_problems",
          "samples_per_problem",
          "ms_k",
          "batch_size",
          "max_steps",
          "rm_steps",
          "rm_batch_size",
      ),
  )
  for f in ("samples_per_problem", "ms_k"):
    check(
        v[f] <= v.batch_size,
        f"verifier.{f}",
        f"must be <= verifier.batch_size={v.batch_size}",
        v[f],
    )
  check(
      v.rm_loss in ("bce", "bce+pairwise"),
      "verifier.rm_loss",
      "must be bce or bce+pairwise",
      v.rm_loss,
  )
  check(
      v.ms_label in ("soft", "hard"),
      "verifier.ms_label",
      "must be soft or hard",
      v.ms_label,
  )
  for f in (
      "temperature",
      "ms_temperature",
      "rm_learning_rate",
      "lm_learning_rate",
  ):
    check(v[f] > 0, f"verifier.{f}", "must be > 0", v[f])
  positive_ints(v, "verifier", ("lm_examples", "lm_steps", "lm_batch_size"))
  for f, x in v.lm_model.items():
    check(
        isinstance(x, int) and x >= 0,
        f"verifier.lm_model.{f}",
        "must be an integer >= 0 (0: the policy's)",
        x,
    )
