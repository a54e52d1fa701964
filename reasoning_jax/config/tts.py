"""reasoning_jax.tts: test-time scaling experiments."""

import ml_collections

from reasoning_jax.config.checks import check
from reasoning_jax.config.checks import one_of
from reasoning_jax.config.checks import positive_ints
from reasoning_jax.verifiers import registry


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  # reasoning_jax.tts: the policy checkpoint (workdir + stage), the
  # verifiers saved by reasoning_jax.verify, problems, samples per problem.
  c.tts = dict(
      policy_workdir="runs/default",
      policy_stage="rl_grpo",
      verifier_workdir="runs/verifier",
      num_problems=256,
      n_max=64,
      temperature=0.7,
      batch_size=256,
      # s1 budget forcing on greedy decoding (0: off): at least
      # budget_min thinking tokens (an early </think> becomes
      # wait_text), at most budget_max.
      budget_min=0,
      budget_max=0,
      wait_text="\n",
      # Step beam search (width 0: off): beams kept, next steps
      # sampled per beam, rounds at most (also ToT's), the step
      # scorer (a PRM's last-step score: prm_exact_last).
      beam_width=0,
      beam_k=4,
      beam_max_steps=8,
      beam_verifier="prm_exact_last",
      # Tree of Thoughts (breadth 0: off): states kept per level,
      # thoughts per state, the evaluator (a verifier name: orm,
      # prm_exact_min, prm_ms_prod, genver_min, ...).
      tot_breadth=0,
      tot_k=4,
      tot_verifier="genver_min",
      # MCTS (simulations 0: off): PUCT constant, children per
      # expansion, the value verifier; on mcts_label_problems train
      # problems, Q-values from mcts_rollouts rule-scored rollouts
      # per node become step labels (mcts_labels.jsonl).
      mcts_simulations=0,
      mcts_k=4,
      c_puct=1.0,
      mcts_verifier="prm_exact_min",
      mcts_label_problems=0,
      mcts_rollouts=4,
      # Sequential revision (revision_n 0: off): chains of up to
      # revision_n attempts by a revision policy fine-tuned on
      # revision_per_problem (wrong -> correct) pairs per problem
      # from revision_samples samples of revision_problems train
      # problems, revision_steps SFT steps at revision_lr.
      revision_n=0,
      revision_problems=512,
      revision_samples=8,
      revision_per_problem=2,
      revision_steps=200,
      revision_lr=3e-4,
      # Compute-optimal choice: difficulty from the agreement of
      # the first estimate_samples samples.
      estimate_samples=4,
  )
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section."""
  _validate_tts(config)


def _validate_tts(config) -> None:
  """reasoning_jax.tts."""
  t = config.tts
  positive_ints(t, "tts", ("num_problems", "n_max", "batch_size"))
  check(
      t.n_max <= t.batch_size,
      "tts.n_max",
      f"must be <= tts.batch_size={t.batch_size}",
      t.n_max,
  )
  check(t.temperature > 0, "tts.temperature", "must be > 0", t.temperature)
  for f in ("budget_min", "budget_max", "beam_width"):
    check(
        isinstance(t[f], int) and t[f] >= 0,
        f"tts.{f}",
        "must be an integer >= 0",
        t[f],
    )
  positive_ints(
      t,
      "tts",
      (
          "beam_k",
          "beam_max_steps",
          "tot_k",
          "mcts_k",
          "mcts_rollouts",
          "revision_problems",
          "revision_samples",
          "revision_per_problem",
          "revision_steps",
          "estimate_samples",
      ),
  )
  for f in (
      "tot_breadth",
      "mcts_simulations",
      "mcts_label_problems",
      "revision_n",
  ):
    check(
        isinstance(t[f], int) and t[f] >= 0,
        f"tts.{f}",
        "must be an integer >= 0",
        t[f],
    )
  for f in ("c_puct", "revision_lr"):
    check(t[f] > 0, f"tts.{f}", "must be > 0", t[f])
  for f in ("beam_verifier", "tot_verifier", "mcts_verifier"):
    one_of(t, "tts", f, registry.scorer_names())
  for f in ("beam_k", "tot_k", "mcts_k", "mcts_rollouts", "revision_samples"):
    check(
        t[f] <= t.batch_size,
        f"tts.{f}",
        f"must be <= tts.batch_size={t.batch_size}",
        t[f],
    )
  check(
      t.estimate_samples <= t.n_max,
      "tts.estimate_samples",
      f"must be <= tts.n_max={t.n_max}",
      t.estimate_samples,
  )
  check(
      bool(t.wait_text) or not t.budget_min,
      "tts.wait_text",
      "must be non-empty when tts.budget_min > 0",
      t.wait_text,
  )
