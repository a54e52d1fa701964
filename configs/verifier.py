r"""Verifiers on ``arith``: ORM, PRM (exact / Math-Shepherd labels).

  python -m reasoning_jax.verify --config=configs/verifier.py \
      --workdir=runs/verifier [--config.verifier.policy_workdir=runs/arith]

The policy is the cold start of ``configs/default.py:arith`` (the earlier
default job: ``arith`` difficulty 1, 5,000 worked solutions; with
``policy_workdir`` a finished run's SFT checkpoint is reused). It
samples 4 completions of 512 train and 256 test problems at temperature 1;
Math-Shepherd labels use 4 continuations per step prefix; each reward model
trains 150 steps of 32 traces from the policy's backbone; the likelihood
verifier (stage ``lmv``) is an LM of the policy's shape trained from scratch
on 96,000 gold solutions in 1,500 steps (about 3 minutes here).

Variants: ``smoke`` (seconds, for tests).
"""

from reasoning_jax import config as config_lib


def get_config(arg: str | None = None):
  variants = arg.split(",") if arg else []
  c = config_lib.sibling_config(__file__, "default").get_config(
      "arith,smoke" if "smoke" in variants else "arith"
  )
  c.stages = "sft"
  c.eval.num_problems = min(c.eval.num_problems, 512)
  for v in variants:
    if v == "smoke":
      c.verifier.update(
          train_problems=16,
          eval_problems=8,
          samples_per_problem=2,
          ms_k=2,
          batch_size=32,
          rm_steps=4,
          rm_batch_size=8,
          lm_examples=64,
          lm_steps=4,
          lm_batch_size=8,
      )
    else:
      raise ValueError(f"unknown config variant {v!r}; known: smoke")
  return c
