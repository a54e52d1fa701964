"""Flax modules: the decoder backbone and its LM / value / reward heads."""

from reasoning_jax.models.heads import CausalLM
from reasoning_jax.models.heads import ScalarHead
from reasoning_jax.models.heads import ScalarModel
from reasoning_jax.models.transformer import Backbone
from reasoning_jax.models.transformer import init_cache
from reasoning_jax.models.transformer import KVCache
from reasoning_jax.models.transformer import ModelConfig
from reasoning_jax.models.transformer import positions_from_valid
from reasoning_jax.models.transformer import rope

__all__ = (
    "CausalLM",
    "ScalarHead",
    "ScalarModel",
    "Backbone",
    "init_cache",
    "KVCache",
    "ModelConfig",
    "positions_from_valid",
    "rope",
)
