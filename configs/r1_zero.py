r"""R1-Zero (DeepSeek-AI 2025): RL straight from a base model, rule rewards.

Stage ``pretrain`` makes the base model: next-token training on problems
followed by bare answers, worked solutions and a few self-corrected
solutions ("hmm"), with no instruction format (train/pretrain.py), on a
stream of fresh ``chain`` problems. Stage ``rl`` is GRPO from it with the
accuracy reward plus a ``<think>`` format reward, a small KL beta and
temperature 1. The report tracks completion length, the share of
completions that open a ``<think>`` block and the reflection-phrase rate
over training and after each stage.

  python -m reasoning_jax.main --config=configs/r1_zero.py \
      --workdir=runs/r1_zero [--seeds=0,1,2]

Variants after a colon: ``smoke`` (seconds, for tests), ``arith`` (the
earlier setting: ``arith`` difficulty 1, 20,000 documents).
"""

from reasoning_jax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.base_config()
  c.stages = "pretrain,rl"
  c.task.update(name="chain", difficulty=3)
  c.pretrain.update(num_examples=44800, steps=700, think=0.5, reflect=0.2)
  c.rl.update(
      steps=200,
      temperature=1.0,
      kl_beta=0.001,
      format_weight=0.5,
      eval_every=25,
  )
  c.eval.num_problems = 2048
  for v in arg.split(",") if arg else []:
    if v == "smoke":
      config_lib.smoke(c)
      c.data.max_new_tokens = 64  # five-operation chains take ~55 tokens.
    elif v == "arith":
      c.task.update(name="arith", difficulty=1)
      c.pretrain.update(num_examples=20000, steps=600)
      c.rl.steps = 150
      c.eval.num_problems = 1024
    else:
      raise ValueError(f"unknown config variant {v!r}; known: smoke, arith")
  return c
