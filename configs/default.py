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

from reasoning_jax.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  c.stages = "sft,rl"
  c.task.update(name="arith", difficulty=1)
  c.sft.update(num_examples=5000, steps=600)
  variants = arg.split(",") if arg else []
  for v in variants:
    if v == "smoke":
      c.model.update(d_model=32, n_layers=2, n_heads=2, n_kv_heads=1,
                     head_dim=16, d_ff=64)
      c.data.max_new_tokens = 32
      c.sft.update(num_examples=64, batch_size=16, steps=6, warmup_steps=2)
      c.rl.update(steps=4, num_prompts=4, group_size=4, minibatch_size=8,
                  num_updates=2, eval_every=2)
      c.eval.update(num_problems=16, batch_size=16, every=4,
                    periodic_problems=16)
      c.checkpoint.every = 2
      c.log_every = 2
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
