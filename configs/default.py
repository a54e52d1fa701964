r"""The default job: cold-start SFT of a 0.8M-parameter policy on ``arith``.

Trains on 1,000 worked solutions for a fixed 300 steps, leaving the policy
partly competent, then reports held-out greedy pass@1 on 1,024 test problems.

  python -m reasoning_jax.main --config=configs/default.py \
      --workdir=runs/default

Smoke (seconds, for tests): ``--config=configs/default.py:smoke``.
"""

from reasoning_jax.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  if arg == "smoke":
    c.model.update(d_model=32, n_layers=2, n_heads=2, n_kv_heads=1,
                   head_dim=16, d_ff=64)
    c.sft.update(num_examples=64, batch_size=16, steps=6, warmup_steps=2)
    c.eval.update(num_problems=16, batch_size=16, every=4,
                  periodic_problems=16)
    c.checkpoint.every = 2
    c.log_every = 2
  elif arg:
    raise ValueError(f"unknown config variant {arg!r}; known: smoke")
  return c
