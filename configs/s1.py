r"""s1 (Muennighoff et al. 2025): SFT on a small curated set, evaluated with
budget forcing.

Stage ``sft`` trains on 1,000 worked solutions chosen from 20,000 for
quality (well formed and verified), difficulty (longest reasoning first) and
diversity (round robin over problem templates); data/curate.py. Stage
``budget`` evaluates greedy pass@1 unforced and under minimum thinking
budgets (an early ``</think>`` becomes a newline: think on) and maximum
budgets (``</think>`` forced).

  python -m reasoning_jax.main --config=configs/s1.py --workdir=runs/s1

Variants after a colon: ``random`` (1,000 uncurated solutions: the
baseline for curation), ``smoke`` (seconds, for tests).
"""

from reasoning_jax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.base_config()
  c.stages = "sft,budget"
  c.task.update(name="arith", difficulty=1)
  c.sft.update(num_examples=1000, curate_pool=20000, steps=600)
  c.budget.update(min_think="16,24,32", max_think="6,8")
  for v in arg.split(",") if arg else []:
    if v == "random":
      c.sft.curate_pool = 0
    elif v == "smoke":
      config_lib.smoke(c)
      c.budget.update(min_think="20", max_think="4")
    else:
      raise ValueError(f"unknown config variant {v!r}; known: random, smoke")
  return c
