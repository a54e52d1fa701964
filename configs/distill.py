r"""Distillation (R1-Distill): a smaller student trained by SFT alone on a
teacher's verified traces; variant ``rl`` continues with GRPO
("distill + RL").

The teacher is a finished run, by default the R1 recipe's
(``configs/r1.py`` in ``runs/r1``): it samples 4 completions per prompt on
2,048 train prompts, the rule verifier keeps the correct ones (deduplicated)
and nothing else reaches the student, a 6x smaller model (d_model 64,
2 layers) trained from scratch.

  python -m reasoning_jax.main --config=configs/r1.py --workdir=runs/r1
  python -m reasoning_jax.main --config=configs/distill.py \
      --workdir=runs/distill [--config.distill.teacher_workdir=runs/r1]

Variants after a colon: ``rl`` (distill, then GRPO), ``baseline`` (the
same student by SFT on as many reference solutions: what distillation is
measured against), ``smoke`` (seconds, for tests).
"""

from reasoning_jax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.base_config()
  c.stages = "distill"
  c.task.update(name="arith", difficulty=1)
  c.model.update(
      d_model=64, n_layers=2, n_heads=2, n_kv_heads=1, head_dim=32, d_ff=176
  )
  c.distill.update(
      teacher_workdir="runs/r1",
      problems=2048,
      samples=4,
      temperature=0.7,
      steps=600,
      learning_rate=3e-3,
  )
  c.sft.num_examples = 1000  # the teacher's cold-start set: not reused.
  for v in arg.split(",") if arg else []:
    if v == "rl":
      c.stages = "distill,rl"
    elif v == "baseline":
      c.stages = "sft"
      c.sft.update(num_examples=1000, steps=600)
    elif v == "smoke":
      config_lib.smoke(c)
    else:
      raise ValueError(
          f"unknown config variant {v!r}; known: rl, baseline, smoke"
      )
  return c
