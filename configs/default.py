r"""The default job: cold-start SFT on ``arith``, then GRPO, then evaluation.

A 0.8M-parameter policy is trained on 5,000 worked solutions for a fixed
number of steps (an R1-style cold start that leaves it partly competent),
then GRPO on fresh prompts scored by the exact verifier alone; held-out
greedy pass@1 on 1,024 test problems is written after each stage.

  python -m reasoning_jax.main --config=configs/default.py \
      --workdir=runs/default [--config.rl.algorithm=ppo]

Variants after a colon: ``smoke`` (seconds, for tests), ``sft`` (the cold
start alone), ``dr_grpo`` and ``dapo`` (named GRPO variants).
"""

from reasoning_jax import config as config_lib
from reasoning_jax.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  c.stages = "sft,rl"
  c.task.update(name="arith", difficulty=1)
  c.sft.update(num_examples=5000, steps=600)
  variants = arg.split(",") if arg else []
  for v in variants:
    if v == "smoke":
      config_lib.smoke(c)
    elif v == "sft":
      c.stages = "sft"
    elif v == "dr_grpo":  # Liu et al. 2025: no std scaling, constant norm.
      c.rl.update(advantage="dr_grpo", loss_reduction="constant")
    elif v == "dapo":  # Yu et al. 2025.
      c.rl.update(clip_eps_high=0.28, loss_reduction="token_mean",
                  overlong_buffer=16, dynamic_sampling=True, kl_beta=0.0)
    else:
      raise ValueError(f"unknown config variant {v!r}; known: smoke, sft, "
                       "dr_grpo, dapo")
  return c
