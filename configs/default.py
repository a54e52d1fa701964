r"""The default job: cold-start SFT on ``chain``, then GRPO, then evaluation.

``chain`` applies 2-5 integer operations left to right
(``Compute 47+8*3-9 left to right.``), one checkable equation per line. The
cold start is a stream of 44,800 fresh problems (each seen once) solved by a
teacher that writes its steps out on long chains (4-5 operations) but, on
70% of the short ones (2-3 operations), states the bare answer. A
0.8M-parameter policy fine-tuned on it for 700 steps writes steps on long
chains (~93% right) and answers short chains at once (~8% right): the held-
out greedy pass@1 sits near 50%, set by the data rather than by where the
step count stops a fast-moving curve. GRPO on fresh prompts, scored by the
exact verifier alone, then finds that writing the steps pays on short
chains too. Held-out greedy pass@1 on 2,048 test problems (with bootstrap
95% intervals and the paired change) is written after each stage, and per
operation count.

  python -m reasoning_jax.main --config=configs/default.py \
      --workdir=runs/default [--seeds=0,1,2] [--config.rl.algorithm=ppo]

Variants after a colon, comma-separated, in any order: ``smoke`` (seconds,
for tests), ``sft`` (the cold start alone), ``worked`` (a teacher that
always writes its steps: SFT alone reaches ~95%, no headroom), ``arith``
(the earlier default: ``arith`` difficulty 1, 5,000 fixed examples; the
verifier and test-time-scaling configs start from it). Another RL algorithm
is one flag: ``--config.rl.algorithm=dapo`` (``rl/algorithms.ALGORITHMS``:
grpo, dr_grpo, dapo, gspo, rloo, reinforce_pp, ppo, each as published).
"""

from reasoning_jax import config as config_lib
from reasoning_jax.config import base_config

VARIANTS = ("smoke", "sft", "worked", "arith")


def get_config(arg: str | None = None):
  c = base_config()
  c.stages = "sft,rl"
  c.task.update(name="chain", difficulty=3)
  c.sft.update(num_examples=44800, steps=700, bare_share=0.7, bare_max_steps=3)
  # Each update's gradient in 8 chunks of 16 sequences: the same step, a
  # third faster on a 2-core CPU (BENCHMARKS.md).
  c.rl.update(steps=200, eval_every=50, microbatches=8)
  c.eval.update(num_problems=2048)
  variants = config_lib.variants(arg, VARIANTS)
  if "arith" in variants:
    c.task.update(name="arith", difficulty=1)
    c.sft.update(num_examples=5000, steps=600, bare_share=0.0)
    c.rl.update(steps=150, microbatches=1)  # as its numbers were measured.
    c.eval.num_problems = 1024
  if "worked" in variants:
    c.sft.bare_share = 0.0
  if "sft" in variants:
    c.stages = "sft"
  if "smoke" in variants:  # last: shrinks whatever the others chose.
    config_lib.smoke(c)
    if c.task.name == "chain":
      c.data.max_new_tokens = 64  # five-operation chains take ~55 tokens.
  return c
