"""Shared fixtures: a tiny policy and a NumPy reference forward pass."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasoning_jax.models import CausalLM
from reasoning_jax.models import ModelConfig

TINY = ModelConfig(
    vocab_size=40,
    d_model=32,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,
    head_dim=8,
    d_ff=48,
    rope_theta=500.0,
)


def init_params(cfg: ModelConfig, seed: int = 0, scale: float = 1.0):
  """Params of ``CausalLM(cfg)``; ``scale`` widens the init so logits vary."""
  toks = jnp.ones((1, 4), jnp.int32)
  params = CausalLM(cfg).init(jax.random.PRNGKey(seed), toks, toks, toks > 0)[
      "params"
  ]
  params = nn.unbox(params)
  keys = iter(jax.random.split(jax.random.PRNGKey(seed + 1), 1000))
  return jax.tree.map(  # random norms/biases too, so every term is tested.
      lambda x: x * scale + 0.1 * jax.random.normal(next(keys), x.shape)
      if x.ndim < 2
      else x * scale,
      params,
  )


def np_forward(params, cfg: ModelConfig, tokens, valid):
  """Plain NumPy float64 forward pass: tokens [B, T], valid [B, T] -> logits.

  Written independently of the Flax code from the Llama equations.
  """
  p = jax.tree.map(lambda x: np.asarray(x, np.float64), params)
  pos = np.maximum(np.cumsum(valid, -1) - 1, 0)
  x = p["model"]["embed_tokens"][tokens]
  b, t = tokens.shape

  def rms(x, scale):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + cfg.rms_eps) * scale

  def rope(x):  # x [B, T, N, Dh]
    half = cfg.head_dim // 2
    out = np.empty_like(x)
    for i in range(half):
      ang = pos * cfg.rope_theta ** (-i / half)
      c, s = np.cos(ang)[..., None], np.sin(ang)[..., None]
      out[..., i] = x[..., i] * c - x[..., i + half] * s
      out[..., i + half] = x[..., i + half] * c + x[..., i] * s
    return out

  mask = np.tril(np.ones((t, t), bool))[None] & valid[:, None, :].astype(bool)
  for l in range(cfg.n_layers):
    lp = p["model"][f"layers_{l}"]
    a = lp["self_attn"]
    h = rms(x, lp["input_layernorm"]["scale"])
    q = np.einsum("btd,dnh->btnh", h, a["q_proj"])
    k = np.einsum("btd,dnh->btnh", h, a["k_proj"])
    v = np.einsum("btd,dnh->btnh", h, a["v_proj"])
    if cfg.qkv_bias:
      q, k, v = (
          q + a["q_proj_bias"],
          k + a["k_proj_bias"],
          v + a["v_proj_bias"],
      )
    q, k = rope(q), rope(k)
    out = np.zeros_like(q)
    group = cfg.n_heads // cfg.n_kv_heads
    for hd in range(cfg.n_heads):
      kh = hd // group
      s = np.einsum("bth,bsh->bts", q[:, :, hd], k[:, :, kh])
      s = s / np.sqrt(cfg.head_dim)
      s = np.where(mask, s, -1e30)  # pad query rows: finite, ignored.
      s = s - s.max(-1, keepdims=True)
      w = np.exp(s)
      w = w / w.sum(-1, keepdims=True)
      out[:, :, hd] = np.einsum("bts,bsh->bth", w, v[:, :, kh])
    x = x + np.einsum("btnh,nhd->btd", out, a["o_proj"])
    h = rms(x, lp["post_attention_layernorm"]["scale"])
    m = lp["mlp"]
    g = h @ m["gate_proj"]
    x = x + ((g / (1 + np.exp(-g))) * (h @ m["up_proj"])) @ m["down_proj"]
  x = rms(x, p["model"]["norm"]["scale"])
  w = p["model"]["embed_tokens"].T if cfg.tie_embeddings else p["lm_head"]
  return x @ w


@pytest.fixture
def tiny():
  return TINY


def load_config(name: str, arg=None):
  """``configs/<name>.py``'s ``get_config(arg)``, loaded from its file."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top

  path = os.path.join(
      os.path.dirname(os.path.dirname(__file__)), "configs", f"{name}.py"
  )
  spec = importlib.util.spec_from_file_location(f"{name}_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def default_config(arg=None):
  """``configs/default.py``'s ``get_config(arg)``."""
  return load_config("default", arg)


def timed(fn, *args, bound_s: float = 2.0):
  """Calls ``fn(*args)``, failing (not hanging) if it overruns ``bound_s``.

  A bound on hostile inputs, generous enough that linear code on a megabyte
  is far below it while a quadratic path would take minutes.
  """
  import signal  # pylint: disable=g-import-not-at-top

  def overrun(signum, frame):
    raise AssertionError(f"{fn.__name__} overran {bound_s} s")

  previous = signal.signal(signal.SIGALRM, overrun)
  signal.setitimer(signal.ITIMER_REAL, bound_s)
  try:
    return fn(*args)
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
  """An uninterrupted ``configs/default.py:smoke`` run (SFT then GRPO): the
  reference that the resume and fault tests compare against. Read-only:
  copy it before changing anything."""
  from reasoning_jax import pipeline  # pylint: disable=g-import-not-at-top

  workdir = str(tmp_path_factory.mktemp("smoke"))
  summary = pipeline.train_and_evaluate(default_config("smoke"), workdir)
  return workdir, summary


def final_params(workdir, stage="sft"):
  """(step, params) of a stage's newest checkpoint, read with orbax alone."""
  import os  # pylint: disable=g-import-not-at-top

  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  ckpt = os.path.join(workdir, "checkpoints", stage)
  step = max(int(d) for d in os.listdir(ckpt) if d.isdigit())
  with ocp.StandardCheckpointer() as c:
    return step, c.restore(os.path.join(ckpt, str(step), "default"))["params"]
