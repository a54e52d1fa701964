"""Hugging Face checkpoints: import and export Llama, Qwen2 and Gemma weights.

A Hugging Face checkpoint directory holds ``config.json`` and either one
``model.safetensors`` or shards listed in ``model.safetensors.index.json``.
``model_config`` maps the config's fields onto ``ModelConfig``;
``load_checkpoint`` streams tensors one at a time (``safetensors.safe_open``),
converts each to our layout and, given shardings, places it straight into
its mesh sharding, so the host never holds more than one tensor in full.
``save_checkpoint`` writes our parameters back as a checkpoint that
``transformers`` (and inference engines that read it) load.

Layout (HF ``nn.Linear`` weights are ``[out, in]``; ours ``[in, ...]``)::

  model.embed_tokens.weight          [V, D]      model/embed_tokens
  layers.i.self_attn.q_proj.weight   [H*Dh, D]   .../q_proj [D, H, Dh]
  layers.i.self_attn.q_proj.bias     [H*Dh]      .../q_proj_bias [H, Dh]
  (k_proj, v_proj the same with K heads)
  layers.i.self_attn.o_proj.weight   [D, H*Dh]   .../o_proj [H, Dh, D]
  layers.i.mlp.{gate,up}_proj.weight [F, D]      .../{gate,up}_proj [D, F]
  layers.i.mlp.down_proj.weight      [D, F]      .../down_proj [F, D]
  layers.i.*_layernorm.weight, norm  [D]         .../scale
  lm_head.weight                     [V, D]      lm_head [D, V] (untied)

Never executes checkpoint content: safetensors holds only arrays and JSON.
"""

import json
import os

import jax
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from reasoning_jax.models.transformer import ModelConfig

FAMILIES = ("llama", "qwen2", "gemma")
INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


class CheckpointError(ValueError):
  """A checkpoint cannot be imported; the message names what is wrong."""


def model_config(hf: dict, **overrides) -> ModelConfig:
  """``ModelConfig`` from a Hugging Face ``config.json`` dict."""
  family = hf.get("model_type")
  if family not in FAMILIES:
    raise CheckpointError(
        f"unsupported model_type {family!r}: supported {FAMILIES}"
    )
  heads = hf["num_attention_heads"]
  head_dim = hf.get("head_dim") or hf["hidden_size"] // heads
  # transformers >= 5 writes rope_parameters (theta and scaling in one
  # dict); earlier versions rope_theta and rope_scaling.
  rp = hf.get("rope_parameters") or {}
  theta = rp.get("rope_theta", hf.get("rope_theta", 10_000.0))
  rs = hf.get("rope_scaling") or rp
  scaling = ()
  if rs:
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
      scaling = ("linear", float(rs["factor"]))
    elif kind == "llama3":
      scaling = (
          "llama3",
          float(rs["factor"]),
          float(rs["low_freq_factor"]),
          float(rs["high_freq_factor"]),
          int(rs["original_max_position_embeddings"]),
      )
    elif kind not in ("default", None):
      raise CheckpointError(
          f"unsupported rope_scaling type {kind!r} (supported: linear, llama3)"
      )
  act = hf.get("hidden_act") or hf.get("hidden_activation") or "silu"
  if family == "gemma":
    act = hf.get("hidden_activation") or "gelu_pytorch_tanh"
  acts = {"silu": "silu", "gelu_pytorch_tanh": "gelu_tanh"}
  if act not in acts:
    raise CheckpointError(
        f"unsupported activation {act!r} (supported: {sorted(acts)})"
    )
  cfg = dict(
      vocab_size=hf["vocab_size"],
      d_model=hf["hidden_size"],
      n_layers=hf["num_hidden_layers"],
      n_heads=heads,
      n_kv_heads=hf.get("num_key_value_heads") or heads,
      head_dim=head_dim,
      d_ff=hf["intermediate_size"],
      rope_theta=float(theta),
      rms_eps=float(hf.get("rms_norm_eps", 1e-6)),
      qkv_bias=family == "qwen2" or bool(hf.get("attention_bias", False)),
      tie_embeddings=bool(hf.get("tie_word_embeddings", family == "gemma")),
      rope_scaling=scaling,
      norm_offset=1.0 if family == "gemma" else 0.0,
      mlp_activation=acts[act],
      embed_scale=family == "gemma",
  )
  cfg.update(overrides)
  return ModelConfig(**cfg)


def hf_config(cfg: ModelConfig, family: str) -> dict:
  """A Hugging Face ``config.json`` dict for ``cfg`` as ``family``."""
  if family not in FAMILIES:
    raise CheckpointError(f"unsupported family {family!r}: {FAMILIES}")
  if (family == "gemma") != (
      cfg.norm_offset == 1.0
      and cfg.embed_scale
      and cfg.mlp_activation == "gelu_tanh"
  ):
    raise CheckpointError(
        f"this ModelConfig is not a {family} architecture "
        "(norm_offset, embed_scale, mlp_activation)"
    )
  if family == "qwen2" and not cfg.qkv_bias:
    raise CheckpointError("qwen2 has q/k/v biases; this config has none")
  arch = {
      "llama": "LlamaForCausalLM",
      "qwen2": "Qwen2ForCausalLM",
      "gemma": "GemmaForCausalLM",
  }[family]
  out = {
      "architectures": [arch],
      "model_type": family,
      "vocab_size": cfg.vocab_size,
      "hidden_size": cfg.d_model,
      "num_hidden_layers": cfg.n_layers,
      "num_attention_heads": cfg.n_heads,
      "num_key_value_heads": cfg.n_kv_heads,
      "head_dim": cfg.head_dim,
      "intermediate_size": cfg.d_ff,
      "rope_theta": cfg.rope_theta,
      "rms_norm_eps": cfg.rms_eps,
      "tie_word_embeddings": cfg.tie_embeddings,
      "torch_dtype": cfg.param_dtype,
      "hidden_act": {"silu": "silu", "gelu_tanh": "gelu_pytorch_tanh"}[
          cfg.mlp_activation
      ],
  }
  if family == "llama":
    out["attention_bias"] = cfg.qkv_bias
  if family == "gemma":
    out["hidden_activation"] = out["hidden_act"]
  r = cfg.rope_scaling
  scaling = (
      {}
      if not r
      else {"rope_type": "linear", "factor": r[1]}
      if r[0] == "linear"
      else {
          "rope_type": "llama3",
          "factor": r[1],
          "low_freq_factor": r[2],
          "high_freq_factor": r[3],
          "original_max_position_embeddings": int(r[4]),
      }
  )
  if scaling:
    out["rope_scaling"] = scaling
  out["rope_parameters"] = {
      "rope_type": "default",
      **scaling,
      "rope_theta": cfg.rope_theta,
  }
  return out


def _names(cfg: ModelConfig) -> dict:
  """Our parameter path (tuple) -> (HF tensor name, to_ours, to_hf)."""
  d, h, k, dh = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
  out = {
      ("model", "embed_tokens"): ("model.embed_tokens.weight", None, None),
      ("model", "norm", "scale"): ("model.norm.weight", None, None),
  }
  if not cfg.tie_embeddings:
    out[("lm_head",)] = ("lm_head.weight", np.transpose, np.transpose)
  for i in range(cfg.n_layers):
    ours, hf = ("model", f"layers_{i}"), f"model.layers.{i}."
    for name, n in (("q_proj", h), ("k_proj", k), ("v_proj", k)):
      out[ours + ("self_attn", name)] = (
          f"{hf}self_attn.{name}.weight",
          lambda w, n=n: w.T.reshape(d, n, dh),
          lambda w, n=n: w.reshape(d, n * dh).T,
      )
      if cfg.qkv_bias:
        out[ours + ("self_attn", name + "_bias")] = (
            f"{hf}self_attn.{name}.bias",
            lambda b, n=n: b.reshape(n, dh),
            lambda b, n=n: b.reshape(n * dh),
        )
    out[ours + ("self_attn", "o_proj")] = (
        f"{hf}self_attn.o_proj.weight",
        lambda w: w.T.reshape(h, dh, d),
        lambda w: w.reshape(h * dh, d).T,
    )
    for name in ("gate_proj", "up_proj", "down_proj"):
      out[ours + ("mlp", name)] = (
          f"{hf}mlp.{name}.weight",
          np.transpose,
          np.transpose,
      )
    for name in ("input_layernorm", "post_attention_layernorm"):
      out[ours + (name, "scale")] = (f"{hf}{name}.weight", None, None)
  return out


def _files(path: str) -> dict:
  """HF tensor name -> safetensors file, from the index or the one file."""
  index = os.path.join(path, INDEX)
  if os.path.exists(index):
    with open(index) as f:
      weight_map = json.load(f)["weight_map"]
    return {n: os.path.join(path, f) for n, f in weight_map.items()}
  single = os.path.join(path, SINGLE)
  if not os.path.exists(single):
    raise CheckpointError(f"{path}: neither {INDEX} nor {SINGLE}")
  with safe_open(single, framework="numpy") as f:
    return {n: single for n in f.keys()}


def read_config(path: str) -> dict:
  cfg_path = os.path.join(path, "config.json")
  if not os.path.exists(cfg_path):
    raise CheckpointError(f"{path}: no config.json")
  with open(cfg_path) as f:
    return json.load(f)


def load_checkpoint(
    path: str, cfg: ModelConfig | None = None, shardings=None, dtype=None
):
  """``(params, cfg)`` from a HF checkpoint directory.

  ``shardings``: an optional pytree of ``jax.sharding.Sharding`` matching
  the params (e.g. ``Context.param_shardings``); each tensor is then put
  directly into its sharding as it is read. ``dtype``: cast on load
  (default: ``cfg.param_dtype``). A tensor the model needs that the files
  lack, or one they hold that the model has no place for, is an error
  naming it (rotary ``inv_freq`` buffers are ignored).
  """
  cfg = cfg or model_config(read_config(path))
  dtype = (
      np.dtype(dtype or cfg.param_dtype)
      if (dtype or cfg.param_dtype) != "bfloat16"
      else jax.numpy.bfloat16
  )
  files = _files(path)
  names = _names(cfg)
  wanted = {hf for hf, _, _ in names.values()}
  missing = sorted(wanted - set(files))
  if missing:
    raise CheckpointError(
        f"{path}: missing tensors {missing[:5]}"
        f"{' ...' if len(missing) > 5 else ''}"
    )
  extra = sorted(
      n
      for n in set(files) - wanted
      if not n.endswith("rotary_emb.inv_freq")
      and not (cfg.tie_embeddings and n == "lm_head.weight")
  )
  if extra:
    raise CheckpointError(
        f"{path}: tensors with no place in the model "
        f"{extra[:5]}{' ...' if len(extra) > 5 else ''}"
    )
  shard_of = {}
  if shardings is not None:
    flat = jax.tree_util.tree_flatten_with_path(shardings)[0]
    shard_of = {tuple(p.key for p in kp): s for kp, s in flat}
  handles, params = {}, {}
  try:
    for ours, (hf, to_ours, _) in names.items():
      f = files[hf]
      if f not in handles:
        handles[f] = safe_open(f, framework="numpy").__enter__()
      x = handles[f].get_tensor(hf)
      x = to_ours(x) if to_ours else x
      x = np.ascontiguousarray(x).astype(dtype)
      x = (
          jax.device_put(x, shard_of[ours])
          if ours in shard_of
          else jax.numpy.asarray(x)
      )
      node = params
      for key in ours[:-1]:
        node = node.setdefault(key, {})
      node[ours[-1]] = x
  finally:
    for h in handles.values():
      h.__exit__(None, None, None)
  return params, cfg


def save_checkpoint(
    path: str,
    params,
    cfg: ModelConfig,
    family: str,
    *,
    max_shard_bytes: int = 5 << 30,
    dtype=None,
) -> None:
  """Writes ``params`` as a HF checkpoint directory (``config.json`` and
  safetensors, sharded with an index past ``max_shard_bytes``)."""
  config = hf_config(cfg, family)
  os.makedirs(path, exist_ok=True)
  tensors = {}
  for ours, (hf, _, to_hf) in _names(cfg).items():
    node = params
    for key in ours:
      node = node[key]
    x = np.asarray(jax.device_get(node))
    x = to_hf(x) if to_hf else x
    tensors[hf] = np.ascontiguousarray(x.astype(dtype) if dtype else x)
  shards, size = [[]], 0
  for name, x in tensors.items():
    if shards[-1] and size + x.nbytes > max_shard_bytes:
      shards.append([])
      size = 0
    shards[-1].append(name)
    size += x.nbytes
  if len(shards) == 1:
    save_file(tensors, os.path.join(path, SINGLE), metadata={"format": "pt"})
  else:
    weight_map = {}
    for i, names in enumerate(shards):
      fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
      save_file(
          {n: tensors[n] for n in names},
          os.path.join(path, fname),
          metadata={"format": "pt"},
      )
      weight_map.update({n: fname for n in names})
    with open(os.path.join(path, INDEX), "w") as f:
      json.dump(
          {
              "metadata": {
                  "total_size": sum(x.nbytes for x in tensors.values())
              },
              "weight_map": weight_map,
          },
          f,
          indent=2,
      )
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
