"""The config schema: every field with its default, and its validation.

Every ``configs/*.py`` starts from :func:`base_config` and changes values, so
the set of fields is defined once. Each section module holds its fields'
defaults (``defaults()``) next to their checks (``validate(config)``):

  run         seed, stages, eval, checkpoint, log_every, mesh
  data        task, prompt, tokenizer, data (sequence lengths)
  model       model, init (a Hugging Face checkpoint to start from)
  supervised  pretrain, sft, rs, distill, budget
  rl          rl (GRPO / PPO)
  verifier    verifier (reasoning_jax.verify)
  tts         tts (reasoning_jax.tts)
  bench       bench (reasoning_jax.bench)
  study       study (reasoning_jax.compare: RL variants over seeds)

:func:`validate` runs before anything is built or compiled and names the
offending field.
"""

import importlib.util
import os

import ml_collections

from reasoning_jax.config import bench
from reasoning_jax.config import data
from reasoning_jax.config import model
from reasoning_jax.config import rl
from reasoning_jax.config import run
from reasoning_jax.config import study
from reasoning_jax.config import supervised
from reasoning_jax.config import tts
from reasoning_jax.config import verifier
from reasoning_jax.config.checks import check_fields
from reasoning_jax.config.checks import ConfigError
from reasoning_jax.config.model import DTYPES
from reasoning_jax.config.model import PRECISIONS
from reasoning_jax.config.run import STAGES
from reasoning_jax.config.verifier import VERIFIER_STAGES

__all__ = (
    "base_config",
    "derive",
    "sibling_config",
    "smoke",
    "validate",
    "variants",
    "ConfigError",
    "DTYPES",
    "PRECISIONS",
    "STAGES",
    "VERIFIER_STAGES",
)

# In the order their checks run; a section's checks may read other sections.
SECTIONS = (run, data, model, supervised, rl, verifier, tts, bench, study)


def base_config() -> ml_collections.ConfigDict:
  """All fields with their defaults (a small arith cold-start SFT run)."""
  c = ml_collections.ConfigDict()
  for section in SECTIONS:
    for key, value in section.defaults().items():
      c[key] = value
  return c


def derive(
    config: ml_collections.ConfigDict, updates: dict
) -> ml_collections.ConfigDict:
  """A new config: ``config`` with the fields of ``updates`` (dotted names,
  ``{"seed": 3, "rl.algorithm": "ppo"}``) replaced, type-checked as a
  command-line override would be. ``config`` itself is never changed: how
  a per-seed run, a compared variant or a verifier's own run gets its
  config (each is written to that run's ``config.json``)."""
  out = ml_collections.ConfigDict(config.to_dict())
  for name, value in updates.items():
    *path, field = name.split(".")
    section = out
    for part in path:
      section = section[part]
    if field not in section:
      raise ConfigError(f"{name}: no such config field")
    section[field] = value
  out.lock()
  return out


def sibling_config(config_file: str, name: str):
  """The module of ``configs/<name>.py`` beside ``config_file`` (a config
  building on another; ``configs/`` is not a package)."""
  path = os.path.join(
      os.path.dirname(os.path.abspath(config_file)), f"{name}.py"
  )
  spec = importlib.util.spec_from_file_location(f"_{name}_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def variants(arg: str | None, known: tuple[str, ...]) -> list[str]:
  """The comma-separated variants after a config file's colon; an unknown
  one is a ValueError naming it and the known ones."""
  chosen = [v for v in arg.split(",") if v] if arg else []
  unknown = set(chosen) - set(known)
  if unknown:
    raise ValueError(
        f"unknown config variant {sorted(unknown)[0]!r}; "
        f"known: {', '.join(known)}"
    )
  return chosen


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field. Compiles nothing.

  Unknown fields first, then each section's own checks."""
  check_fields(config, base_config())
  for section in SECTIONS:
    section.validate(config)


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks ``c`` in place to a seconds-long run (the configs' ``smoke``
  variant, for tests): a tiny model, a few steps of every stage."""
  c.model.update(
      d_model=32, n_layers=2, n_heads=2, n_kv_heads=1, head_dim=16, d_ff=64
  )
  c.data.max_new_tokens = 32
  c.pretrain.update(num_examples=64, steps=6)
  c.sft.update(
      num_examples=64,
      batch_size=16,
      steps=6,
      warmup_steps=2,
      curate_pool=min(c.sft.curate_pool, 128),
  )
  # A random policy never answers right; DAPO's overlong penalty gives its
  # groups a reward spread (length varies), so RL's updates carry signal.
  c.rl.update(
      steps=4,
      num_prompts=4,
      group_size=4,
      minibatch_size=8,
      microbatches=1,  # too few rows to chunk.
      num_updates=2,
      eval_every=2,
      overlong_buffer=16,
      learning_rate=1e-3,
  )
  c.rs.update(problems=8, samples=4, steps=4)
  c.distill.update(problems=8, samples=4, steps=4)
  c.eval.update(num_problems=16, batch_size=16, every=4, periodic_problems=16)
  c.checkpoint.every = 2
  c.log_every = 2
  return c
