"""Llama / Qwen2-style decoder backbone with a functional KV cache.

Dimensions: B batch, T query tokens, C cache slots, D width (embed), H query
heads, K key/value heads, R = H / K query heads per KV head, Dh head width,
F MLP width, V vocab.

Layout and parameter names follow the Hugging Face Llama/Qwen2 modules
(``embed_tokens``, ``layers_i.self_attn.{q,k,v,o}_proj``, ``mlp.{gate,up,down}
_proj``, ``input_layernorm``, ``post_attention_layernorm``, ``norm``), and RoPE
uses their rotate-half convention, so real checkpoints map tensor for tensor.
Every parameter carries logical axis names (vocab, embed, heads, kv_heads,
head_dim, mlp); a rules table in the config maps them onto mesh axes.

The cache is a plain pytree passed in and returned (no mutable collections):
``KVCache(k, v, valid, index)`` with one ``[B, K, C, Dh]`` pair per layer (heads
before slots, the layout the score matmuls read, so decoding never
transposes the cache). A call with
a cache writes its T new keys at slot ``index`` and lets query t attend to every
valid slot ``<= index + t``; that single rule covers prefill and decoding.
"""

import dataclasses
import functools
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from reasoning_jax.models import initializers

# The accepted names of ``ModelConfig``'s string fields (``config/model.py``
# checks against these tables).
DTYPES = {
    "float32": jnp.float32,
    "bfloat16": jnp.bfloat16,
    "float16": jnp.float16,
}
PRECISIONS = {
    "auto": None,  # see ModelConfig.precision.
    "default": jax.lax.Precision.DEFAULT,
    "high": jax.lax.Precision.HIGH,
    "highest": jax.lax.Precision.HIGHEST,
}
ATTENTION_KERNELS = ("einsum", "xla", "cudnn")
DECODE_SCORES = ("auto", "einsum", "reduce")
MLP_ACTIVATIONS = {
    "silu": nn.silu,
    "gelu_tanh": functools.partial(nn.gelu, approximate=True),
}


# ``ModelConfig`` fields that say how the model runs, not its shape: a run
# from a checkpoint takes the architecture from it and these from the config.
RUNTIME_FIELDS = (
    "dtype",
    "param_dtype",
    "remat",
    "attention",
    "precision",
    "decode_chunk",
    "decode_scores",
)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture hyper-parameters (all static)."""

  vocab_size: int = 256
  d_model: int = 128
  n_layers: int = 4
  n_heads: int = 4
  n_kv_heads: int = 2
  head_dim: int = 32
  d_ff: int = 352
  rope_theta: float = 10_000.0
  rms_eps: float = 1e-6
  qkv_bias: bool = False  # Qwen2 uses biases on q/k/v.
  tie_embeddings: bool = False
  # RoPE frequency scaling: () none, ("linear", factor), or ("llama3",
  # factor, low_freq_factor, high_freq_factor, original_max_positions).
  rope_scaling: tuple = ()
  norm_offset: float = 0.0  # RMSNorm multiplies by (offset + scale); Gemma 1.
  mlp_activation: str = "silu"  # silu (SwiGLU) | gelu_tanh (Gemma GeGLU).
  embed_scale: bool = False  # embeddings times sqrt(d_model) (Gemma).
  dtype: str = "float32"  # compute dtype.
  param_dtype: str = "float32"
  init_std: float = 0.02
  # Rematerialise each decoder layer in the backward pass (saves only its
  # input): activation memory O(layers x B x T x D) instead of the attention
  # scores of every layer, for a third more FLOPs. Forward-only calls
  # (sampling, scoring) are unaffected.
  remat: bool = False
  # Attention kernel of full-sequence calls (training, scoring): "einsum"
  # (below), or jax.nn.dot_product_attention's "xla" or "cudnn" (fused flash
  # attention on NVIDIA GPUs, bf16/fp16). Cached decoding always uses einsum.
  attention: str = "einsum"
  # Matmul precision of every dot in the model (sampler, log-prob pass and
  # learner alike): "auto" = "highest" when the compute dtype is float32
  # (exact float32 products; without it GPUs use TF32, ~1e-3 relative, and
  # TPUs one bf16 pass), "default" for bfloat16/float16 compute (native
  # passes; the inputs are already rounded). Or "default" | "high" |
  # "highest" (jax.lax.Precision) to force one.
  precision: str = "auto"
  # Decode steps per iteration of the sampler's loop: 1 checks "every
  # sequence stopped?" after each token; k > 1 runs k steps in a
  # fixed-trip-count inner loop (finished rows masked) between checks, so
  # an accelerator syncs with the host once per k tokens. Same tokens.
  decode_chunk: int = 1
  # Attention scores of one decoded token: "einsum" (batched GEMMs of R
  # rows), "reduce" (``_decode_scores``: one fused multiply-sum over the
  # cache), or "auto" = reduce on CPU, einsum elsewhere (the measurements
  # are in BENCHMARKS.md).
  decode_scores: str = "auto"

  def __post_init__(self):  # configs may hand over a list; keep it hashable.
    object.__setattr__(self, "rope_scaling", tuple(self.rope_scaling))

  @property
  def compute_dtype(self):
    return DTYPES[self.dtype]

  @property
  def weight_dtype(self):
    return DTYPES[self.param_dtype]

  @property
  def lax_precision(self) -> jax.lax.Precision:
    """The ``jax.lax.Precision`` every dot of the model uses."""
    name = self.precision
    if name == "auto":
      name = "highest" if self.dtype == "float32" else "default"
    return PRECISIONS[name]


class KVCache(NamedTuple):
  """The cache of one batch: keys and values per layer, which slots hold a
  token, and the next slot to write."""

  k: tuple[jax.Array, ...]  # per layer [B, K, C, Dh]
  v: tuple[jax.Array, ...]  # per layer [B, K, C, Dh]
  valid: jax.Array  # [B, C] bool, slot holds a real (non-pad) token.
  index: jax.Array  # [] int32, next slot to write.


def init_cache(cfg: ModelConfig, batch: int, slots: int) -> KVCache:
  """An empty cache of ``slots`` positions for ``batch`` sequences."""
  shape = (batch, cfg.n_kv_heads, slots, cfg.head_dim)
  zeros = tuple(
      jnp.zeros(shape, cfg.compute_dtype) for _ in range(cfg.n_layers)
  )
  return KVCache(
      k=zeros,
      v=zeros,
      valid=jnp.zeros((batch, slots), bool),
      index=jnp.zeros((), jnp.int32),
  )


def logical_param(module, name, cfg, shape, axes, init=None):
  """``module``'s parameter ``name`` of ``shape`` in ``cfg.weight_dtype``,
  with logical axis names ``axes`` (the sharding rules map them to the
  mesh); ``init`` defaults to the models' ``normal(cfg.init_std)``."""
  init = init or initializers.normal(cfg.init_std)
  return module.param(
      name, nn.with_logical_partitioning(init, axes), shape, cfg.weight_dtype
  )


class RMSNorm(nn.Module):
  """y = x / sqrt(mean(x^2) + eps) * (offset + scale) (Zhang & Sennrich
  2019; offset 0, or 1 for Gemma's zero-centred scale)."""

  cfg: ModelConfig

  @nn.compact
  def __call__(self, x):
    scale = logical_param(
        self,
        "scale",
        self.cfg,
        (x.shape[-1],),
        ("embed",),
        nn.initializers.ones,
    )
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(
        jnp.mean(x32 * x32, -1, keepdims=True) + self.cfg.rms_eps
    )
    return (y * (self.cfg.norm_offset + scale.astype(jnp.float32))).astype(
        self.cfg.compute_dtype
    )


def rope_frequencies(head_dim: int, theta: float, scaling: tuple = ()):
  """[Dh/2] RoPE frequencies theta^(-2i/Dh), with optional scaling.

  ``("linear", f)``: all divided by f. ``("llama3", f, lo, hi, L)`` (Llama
  3.1+): wavelengths 2π/freq above L/lo are divided by f, those below L/hi
  kept, and in between interpolated by s = (L/wavelength − lo)/(hi − lo):
  (1 − s)·freq/f + s·freq.
  """
  half = head_dim // 2
  freq = theta ** (-jnp.arange(half, dtype=jnp.float32) / half)
  if not scaling:
    return freq
  kind, factor = scaling[0], float(scaling[1])
  if kind == "linear":
    return freq / factor
  if kind != "llama3":
    raise ValueError(f"unknown rope scaling {kind!r}")
  lo, hi, length = (float(v) for v in scaling[2:5])
  wavelen = 2 * jnp.pi / freq
  s = (length / wavelen - lo) / (hi - lo)
  mid = (1 - s) * freq / factor + s * freq
  return jnp.where(
      wavelen > length / lo,
      freq / factor,
      jnp.where(wavelen < length / hi, freq, mid),
  )


def rope_angles(positions, head_dim: int, theta: float, scaling=(), table=0):
  """(cos, sin) ``[B, T, Dh/2]`` of the RoPE angles pos * freq_i.

  ``table`` = n > 0: cos and sin of every position below n, then gathered
  at ``positions`` (which must be < n; larger ones give NaN). Same values;
  inside the sampler's decode loop the [n, Dh/2] table depends on no loop
  variable, so the compiler computes it once before the loop instead of
  sin and cos in every step (BENCHMARKS.md: its effect on the rollout).
  """
  freq = rope_frequencies(head_dim, theta, scaling)  # [Dh/2]
  if not table:
    ang = positions[..., None].astype(jnp.float32) * freq  # [B, T, Dh/2]
    return jnp.cos(ang), jnp.sin(ang)
  ang = jnp.arange(table, dtype=jnp.float32)[:, None] * freq  # [n, Dh/2]
  return (
      jnp.take(jnp.cos(ang), positions, axis=0, mode="fill"),
      jnp.take(jnp.sin(ang), positions, axis=0, mode="fill"),
  )


def apply_rope(x, cos_sin):
  """Rotary embedding, rotate-half layout (Su et al. 2021; HF Llama).

  x: [B, T, N, Dh]; cos_sin: ``rope_angles``' pair, [B, T, Dh/2] each.
  Pair i is (x_i, x_{i+Dh/2}), rotated by angle pos * freq_i.
  """
  half = x.shape[-1] // 2
  cos, sin = (a[:, :, None, :] for a in cos_sin)
  x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
  return out.astype(x.dtype)


def rope(x, positions, theta: float, scaling: tuple = ()):
  """``apply_rope`` at ``positions`` [B, T] (x: [B, T, N, Dh])."""
  return apply_rope(x, rope_angles(positions, x.shape[-1], theta, scaling))


def grouped_attention(
    q_bthd, k_bkcd, v_bkcd, mask_btc, dt, einsum, decode_scores="einsum"
):
  """softmax(q kᵀ / √Dh + mask) v, with R = H / K query heads per KV head.

  The R query heads of each KV head are folded into the query axis, so each
  score matmul is one plain batched GEMM ([B*K] x [R*T, Dh] x [Dh, C]).
  Scores and softmax in float32; matmuls in ``dt``. Returns [B, T, H, Dh].
  One decoded token (T = 1) with ``decode_scores="reduce"`` takes
  ``_decode_scores`` for q kᵀ instead.
  """
  b, t, h, dh = q_bthd.shape
  k, c = k_bkcd.shape[1], k_bkcd.shape[2]
  assert v_bkcd.shape == k_bkcd.shape and mask_btc.shape == (b, t, c), (
      k_bkcd.shape,
      v_bkcd.shape,
      mask_btc.shape,
  )
  r = h // k
  qr = (
      q_bthd.reshape(b, t, k, r, dh)
      .transpose(0, 2, 3, 1, 4)
      .reshape(b, k, r * t, dh)
  )
  if t == 1 and decode_scores == "reduce":
    logits = _decode_scores(qr, k_bkcd)
  else:
    logits = einsum("bkqh,bkch->bkqc", qr, k_bkcd.astype(dt))
  logits = logits.astype(jnp.float32).reshape(b, k, r, t, c)
  logits = logits / jnp.sqrt(jnp.float32(dh))
  big_neg = jnp.finfo(jnp.float32).min
  logits = jnp.where(mask_btc[:, None, None], logits, big_neg)
  probs = jax.nn.softmax(logits, axis=-1).astype(dt).reshape(b, k, r * t, c)
  out = einsum("bkqc,bkch->bkqh", probs, v_bkcd.astype(dt))
  return (
      out.reshape(b, k, r, t, dh).transpose(0, 3, 1, 2, 4).reshape(b, t, h, dh)
  )


def _decode_scores(q_bkrd, k_bkcd):
  """q kᵀ [B, K, R, C] as a float32 multiply and sum over Dh.

  For one decoded token each batched GEMM of the einsum form is [R, Dh] x
  [Dh, C] with only R rows, a poor fit for XLA:CPU's matmuls; this
  elementwise form is one fused pass over the cache (BENCHMARKS.md has
  both timed). Float32 products and sums, as ``highest`` precision;
  under bfloat16 compute the learner's full pass multiplies in bf16
  instead, one more source of sampler-vs-learner log-prob mismatch.
  """
  q = q_bkrd.astype(jnp.float32)[:, :, :, None, :]
  return jnp.sum(q * k_bkcd.astype(jnp.float32)[:, :, None], axis=-1)


class Attention(nn.Module):
  """Grouped-query causal self-attention over an optional KV cache."""

  cfg: ModelConfig

  @nn.compact
  def __call__(self, x, rot, mask_btc, kv=None, index=None):
    """x [B, T, D]; rot: ``rope_angles`` of the T tokens; mask [B, T, C];
    kv: optional (k, v) cache of this layer, written at ``index``."""
    cfg, dt = self.cfg, self.cfg.compute_dtype
    d, h, k, dh = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    einsum = functools.partial(jnp.einsum, precision=cfg.lax_precision)

    def proj(name, n_heads, axes):
      w = logical_param(self, name, cfg, (d, n_heads, dh), ("embed",) + axes)
      y = einsum("btd,dnh->btnh", x, w.astype(dt))
      if cfg.qkv_bias:
        y = y + logical_param(
            self,
            name + "_bias",
            cfg,
            (n_heads, dh),
            axes,
            nn.initializers.zeros,
        ).astype(dt)
      return y

    q = apply_rope(proj("q_proj", h, ("heads", "head_dim")), rot)
    kk = apply_rope(proj("k_proj", k, ("kv_heads", "head_dim")), rot)
    vv = proj("v_proj", k, ("kv_heads", "head_dim"))
    kk, vv = kk.transpose(0, 2, 1, 3), vv.transpose(0, 2, 1, 3)  # [B,K,T,Dh]
    if kv is not None:  # write the new keys into the cache at `index`.
      kk = jax.lax.dynamic_update_slice_in_dim(
          kv[0], kk.astype(kv[0].dtype), index, axis=2
      )
      vv = jax.lax.dynamic_update_slice_in_dim(
          kv[1], vv.astype(kv[1].dtype), index, axis=2
      )
    wo = logical_param(
        self, "o_proj", cfg, (h, dh, d), ("heads", "head_dim", "embed")
    )
    if kv is None and cfg.attention != "einsum":
      with jax.default_matmul_precision(cfg.lax_precision.name.lower()):
        out = jax.nn.dot_product_attention(
            q,
            kk.transpose(0, 2, 1, 3),
            vv.transpose(0, 2, 1, 3),
            mask=mask_btc[:, None],
            implementation=(None if cfg.attention == "xla" else cfg.attention),
        )
      return einsum("btnh,nhd->btd", out, wo.astype(dt)), (kk, vv)
    scores = cfg.decode_scores
    if scores == "auto":
      scores = "reduce" if jax.default_backend() == "cpu" else "einsum"
    out = grouped_attention(q, kk, vv, mask_btc, dt, einsum, scores)
    return einsum("btnh,nhd->btd", out, wo.astype(dt)), (kk, vv)


class MLP(nn.Module):
  """Gated MLP: down(act(gate(x)) * up(x)), act = silu (SwiGLU) or tanh-
  approximated gelu (GeGLU, Gemma) (Shazeer 2020)."""

  cfg: ModelConfig

  @nn.compact
  def __call__(self, x):
    cfg, dt = self.cfg, self.cfg.compute_dtype
    wg = logical_param(
        self, "gate_proj", cfg, (cfg.d_model, cfg.d_ff), ("embed", "mlp")
    )
    wu = logical_param(
        self, "up_proj", cfg, (cfg.d_model, cfg.d_ff), ("embed", "mlp")
    )
    wd = logical_param(
        self, "down_proj", cfg, (cfg.d_ff, cfg.d_model), ("mlp", "embed")
    )
    act = MLP_ACTIVATIONS[cfg.mlp_activation]
    mm = functools.partial(jnp.matmul, precision=cfg.lax_precision)
    hid = act(mm(x, wg.astype(dt))) * mm(x, wu.astype(dt))
    return mm(hid, wd.astype(dt))


class DecoderLayer(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x, rot, mask_btc, kv=None, index=None):
    h, kv = Attention(self.cfg, name="self_attn")(
        RMSNorm(self.cfg, name="input_layernorm")(x),
        rot,
        mask_btc,
        kv,
        index,
    )
    x = x + h
    x = x + MLP(self.cfg, name="mlp")(
        RMSNorm(self.cfg, name="post_attention_layernorm")(x)
    )
    return x, kv


class Backbone(nn.Module):
  """Token ids -> final-normed hidden states ``[B, T, D]``.

  Args (call): tokens [B, T] int; positions [B, T] int (RoPE positions, count
  of real tokens before this one; with a cache, below its slot count);
  valid [B, T] bool (False on padding); cache: optional KVCache. Returns
  (hidden, new_cache or None).
  """

  cfg: ModelConfig

  def setup(self):
    cfg = self.cfg
    self.embed_tokens = self.param(
        "embed_tokens",
        nn.with_logical_partitioning(
            initializers.normal(cfg.init_std), ("vocab", "embed")
        ),
        (cfg.vocab_size, cfg.d_model),
        cfg.weight_dtype,
    )
    layer_cls = nn.remat(DecoderLayer) if cfg.remat else DecoderLayer
    self.layers = [
        layer_cls(cfg, name=f"layers_{i}") for i in range(cfg.n_layers)
    ]
    self.norm = RMSNorm(cfg)

  def __call__(self, tokens, positions, valid, cache: KVCache | None = None):
    x = jnp.take(self.embed_tokens, tokens, axis=0).astype(
        self.cfg.compute_dtype
    )
    if self.cfg.embed_scale:
      x = x * jnp.asarray(self.cfg.d_model**0.5, x.dtype)
    t = tokens.shape[1]
    if cache is None:
      causal = jnp.tril(jnp.ones((t, t), bool))
      # A padding query attends to itself alone (no row is fully masked, so
      # fused kernels never divide by zero); real queries never see padding.
      mask_btc = causal[None] & (valid[:, None, :] | jnp.eye(t, dtype=bool))
      index, kvs, new_valid = None, [None] * self.cfg.n_layers, None
      table = 0  # any position: sin and cos of each one.
    else:
      index = cache.index
      new_valid = jax.lax.dynamic_update_slice_in_dim(
          cache.valid, valid, index, axis=1
      )
      slots = jnp.arange(cache.valid.shape[1])
      causal = slots[None, :] <= (index + jnp.arange(t))[:, None]  # [T, C]
      mask_btc = causal[None] & new_valid[:, None, :]
      kvs = list(zip(cache.k, cache.v))
      table = cache.valid.shape[1]  # positions count real slots before.
    cfg = self.cfg
    rot = rope_angles(
        positions, cfg.head_dim, cfg.rope_theta, cfg.rope_scaling, table
    )
    new_k, new_v = [], []
    for layer, kv in zip(self.layers, kvs):
      x, (k, v) = layer(x, rot, mask_btc, kv, index)
      new_k.append(k)
      new_v.append(v)
    x = self.norm(x)
    if cache is None:
      return x, None
    return x, KVCache(tuple(new_k), tuple(new_v), new_valid, index + t)

  def attend(self, hidden):
    """Tied-embedding logits: hidden @ embed_tokens^T."""
    return jnp.matmul(
        hidden,
        self.embed_tokens.T.astype(hidden.dtype),
        precision=self.cfg.lax_precision,
    )


def positions_from_valid(valid_bt):
  """RoPE position of each slot = number of real tokens before it."""
  return jnp.maximum(jnp.cumsum(valid_bt.astype(jnp.int32), axis=-1) - 1, 0)
