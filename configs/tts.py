r"""Test-time scaling on ``arith`` with the ``default.py:arith`` policy.

  python -m reasoning_jax.main --config=configs/default.py:arith \
      --workdir=runs/arith
  python -m reasoning_jax.verify --config=configs/verifier.py \
      --workdir=runs/verifier --config.verifier.policy_workdir=runs/arith
  python -m reasoning_jax.tts --config=configs/tts.py --workdir=runs/tts

256 test problems, 64 samples each at temperature 0.7, N = 1 .. 64; greedy
decoding under s1 budget forcing with at least 24 and at most 8 thinking
tokens (the default policy thinks for about 11); step beam search of
width 4 with 4 sampled steps per beam, Tree of Thoughts (breadth 4, 4
thoughts per state) and MCTS with 16 simulations of 4 children, all three
guided by the likelihood verifier's step scores (``lmv_steps_last`` /
``lmv_steps_min``); Q-value step labels
on 64 train problems from 4 rollouts per node; revision chains of up to 8
attempts by a revision policy fine-tuned for 200 steps.
Variants: ``countdown`` (the wider search space), with a policy and
verifiers trained on it::

  python -m reasoning_jax.main --config=configs/default.py:arith \
      --workdir=runs/countdown --config.task.name=countdown \
      --config.data.max_prompt_len=48
  python -m reasoning_jax.verify --config=configs/verifier.py \
      --workdir=runs/verifier_countdown --config.task.name=countdown \
      --config.data.max_prompt_len=48 \
      --config.verifier.policy_workdir=runs/countdown
  python -m reasoning_jax.tts --config=configs/tts.py:countdown \
      --workdir=runs/tts_countdown --config.tts.policy_workdir=runs/countdown \
      --config.tts.verifier_workdir=runs/verifier_countdown

and ``smoke`` (seconds, for tests).
"""

from reasoning_jax import config as config_lib


def get_config(arg: str | None = None):
  variants = arg.split(",") if arg else []
  c = config_lib.sibling_config(__file__, "verifier").get_config(
      "smoke" if "smoke" in variants else None
  )
  c.tts.update(
      policy_workdir="runs/arith",
      beam_verifier="lmv_steps_last",
      tot_verifier="lmv_steps_min",
      mcts_verifier="lmv_steps_min",
      budget_min=24,
      budget_max=8,
      beam_width=4,
      beam_k=4,
      tot_breadth=4,
      tot_k=4,
      mcts_simulations=16,
      mcts_k=4,
      mcts_label_problems=64,
      revision_n=8,
  )
  for v in variants:
    if v == "smoke":
      c.tts.update(
          num_problems=8,
          n_max=4,
          batch_size=32,
          beam_width=2,
          beam_max_steps=3,
          tot_breadth=2,
          mcts_simulations=3,
          mcts_label_problems=2,
          mcts_rollouts=2,
          revision_n=2,
          revision_problems=8,
          revision_samples=4,
          revision_steps=2,
          estimate_samples=2,
      )
    elif v == "countdown":
      c.task.update(name="countdown", difficulty=1)
      c.data.max_prompt_len = 48  # its prompts are longer.
    else:
      raise ValueError(f"unknown config variant {v!r}; known: smoke, countdown")
  return c
