r"""R1 (DeepSeek-AI 2025), the four stages at a small size.

1. ``sft``: cold start on a small curated set of long traces (1,000 chosen
   from 5,000 by quality, length and diversity; data/curate.py).
2. ``rl``: reasoning GRPO with the accuracy reward, a format reward and a
   consistency reward (the share of thinking lines in the task's step
   syntax, R1's language-consistency reward here).
3. ``rs``: rejection sampling: 8 samples per prompt on 512 fresh prompts
   from stage 2, kept when the rule verifier accepts, deduplicated, mixed
   with a quarter as many reference solutions, then SFT.
4. ``rl``: final GRPO (checkpoint ``rl_grpo_2``).

  python -m reasoning_jax.main --config=configs/r1.py --workdir=runs/r1

Each stage writes its checkpoint and evaluation; a rerun resumes at the
first unfinished stage. Variants after a colon: ``smoke`` (seconds).
"""

from reasoning_jax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.base_config()
  c.stages = "sft,rl,rs,rl"
  c.task.update(name="arith", difficulty=1)
  c.sft.update(num_examples=1000, curate_pool=5000, steps=600)
  c.rl.update(format_weight=0.2, consistency_weight=0.2)
  c.rs.update(problems=512, samples=8, mix=0.25, steps=300)
  for v in arg.split(",") if arg else []:
    if v == "smoke":
      config_lib.smoke(c)
    else:
      raise ValueError(f"unknown config variant {v!r}; known: smoke")
  return c
