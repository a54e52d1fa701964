"""Flax modules: the decoder backbone and its LM / value / reward heads."""

from reasoning_jax.models.heads import CausalLM, ScalarHead, ScalarModel
from reasoning_jax.models.transformer import (Backbone, KVCache, ModelConfig,
                                              init_cache, positions_from_valid,
                                              rope)
