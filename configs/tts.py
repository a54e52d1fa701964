r"""Test-time scaling on the default task with the default job's policy.

  python -m reasoning_jax.main --config=configs/default.py --workdir=runs/default
  python -m reasoning_jax.verify --config=configs/verifier.py \
      --workdir=runs/verifier --config.verifier.policy_workdir=runs/default
  python -m reasoning_jax.tts --config=configs/tts.py --workdir=runs/tts

256 test problems, 64 samples each at temperature 0.7, N = 1 .. 64; greedy
decoding under s1 budget forcing with at least 24 and at most 8 thinking
tokens (the default policy thinks for about 11); PRM step beam search of
width 4 with 4 sampled steps per beam.
Variants: ``countdown`` (the wider search space; point ``tts.*_workdir`` at
runs trained on it), ``smoke`` (seconds, for tests).
"""

import importlib.util
import os


def _load(name):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"_{name}_config", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def get_config(arg: str | None = None):
  variants = arg.split(",") if arg else []
  c = _load("verifier").get_config("smoke" if "smoke" in variants else None)
  c.tts.update(budget_min=24, budget_max=8, beam_width=4, beam_k=4)
  for v in variants:
    if v == "smoke":
      c.tts.update(num_problems=8, n_max=4, batch_size=32)
    elif v == "countdown":
      c.task.update(name="countdown", difficulty=1)
    else:
      raise ValueError(f"unknown config variant {v!r}; known: smoke, "
                       "countdown")
  return c
