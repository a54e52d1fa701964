"""Heads on the shared backbone: LM (policy), value (critic), reward (ORM/PRM).

Each full model is ``Backbone`` under the name ``model`` plus one head, so a
critic or reward model can be initialised from a policy by copying
``params["model"]``. Shapes: B batch, T tokens, D width, V vocab.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from reasoning_jax.models.transformer import Backbone
from reasoning_jax.models.transformer import KVCache
from reasoning_jax.models.transformer import logical_param
from reasoning_jax.models.transformer import ModelConfig


class ScalarHead(nn.Module):
  """Per-token scalar ``hidden @ w + b``: [B, T, D] -> [B, T] float32."""

  cfg: ModelConfig

  @nn.compact
  def __call__(self, hidden):
    w = logical_param(
        self,
        "kernel",
        self.cfg,
        (self.cfg.d_model,),
        ("embed",),
        nn.initializers.zeros,
    )
    b = logical_param(self, "bias", self.cfg, (), (), nn.initializers.zeros)
    return jnp.matmul(
        hidden.astype(jnp.float32),
        w.astype(jnp.float32),
        precision=jax.lax.Precision.HIGHEST,
    ) + b.astype(jnp.float32)


class CausalLM(nn.Module):
  """The policy: backbone + LM head (or tied embeddings).

  __call__(tokens [B,T], positions [B,T], valid [B,T], cache=None,
           logits_slice=None) -> (logits [B,T',V] float32, hidden [B,T,D], cache)

  ``logits_slice=(start, length)`` (static) applies the LM head to
  ``hidden[:, start:start+length]`` only (T' = length): the prefill needs the
  last slot's logits and the learner the completion's, and at a 150k vocab
  the [B, T, V] logits of every slot would dominate memory.
  """

  cfg: ModelConfig

  def setup(self):
    self.model = Backbone(self.cfg)
    if not self.cfg.tie_embeddings:
      self.lm_head_kernel = logical_param(
          self,
          "lm_head",
          self.cfg,
          (self.cfg.d_model, self.cfg.vocab_size),
          ("embed", "vocab"),
      )

  def __call__(
      self,
      tokens,
      positions,
      valid,
      cache: KVCache | None = None,
      logits_slice: tuple[int, int] | None = None,
  ):
    hidden, cache = self.model(tokens, positions, valid, cache)
    h = hidden
    if logits_slice is not None:
      h = jax.lax.slice_in_dim(
          hidden, logits_slice[0], logits_slice[0] + logits_slice[1], axis=1
      )
    if self.cfg.tie_embeddings:
      logits = self.model.attend(h)
    else:
      logits = jnp.matmul(
          h,
          self.lm_head_kernel.astype(h.dtype),
          precision=self.cfg.lax_precision,
      )
    return logits.astype(jnp.float32), hidden, cache


class ScalarModel(nn.Module):
  """Backbone + per-token scalar head: the value critic or the reward model.

  ``head_name`` is ``value_head`` for the PPO critic and ``reward_head`` for
  ORM/PRM. __call__ -> scores [B, T] float32.
  """

  cfg: ModelConfig
  head_name: str = "value_head"

  @nn.compact
  def __call__(self, tokens, positions, valid):
    hidden, _ = Backbone(self.cfg, name="model")(tokens, positions, valid)
    return ScalarHead(self.cfg, name=self.head_name)(hidden)
