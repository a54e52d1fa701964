"""The Flax decoder against an independent NumPy forward pass."""

import dataclasses

from conftest import init_params
from conftest import np_forward
from conftest import TINY
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasoning_jax.models import Backbone
from reasoning_jax.models import CausalLM
from reasoning_jax.models import init_cache
from reasoning_jax.models import rope
from reasoning_jax.models import ScalarModel
from reasoning_jax.models.transformer import positions_from_valid


def _forward(cfg, params, tokens, valid):
  logits, _, _ = CausalLM(cfg).apply(
      {"params": params},
      jnp.asarray(tokens),
      positions_from_valid(jnp.asarray(valid)),
      jnp.asarray(valid),
  )
  return np.asarray(logits)


def _batch(cfg, seed=0, b=3, t=7):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(3, cfg.vocab_size, (b, t))
  valid = np.ones((b, t), bool)
  valid[1, :3] = False  # left padding
  valid[2, 5:] = False  # right padding
  tokens[~valid] = 0
  return tokens, valid


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"qkv_bias": True},
        {"tie_embeddings": True},
        {"n_kv_heads": 4},
        {"n_kv_heads": 1},
    ],
)
def test_matches_numpy_reference(variant):
  cfg = dataclasses.replace(TINY, **variant)
  params = init_params(cfg, scale=3.0)
  tokens, valid = _batch(cfg)
  got = _forward(cfg, params, tokens, valid)
  want = np_forward(params, cfg, tokens, valid)
  np.testing.assert_allclose(got[valid], want[valid], atol=2e-4, rtol=1e-4)
  assert np.std(want[valid]) > 0.1  # the comparison is not trivially flat.


def test_padding_values_do_not_matter():
  params = init_params(TINY, scale=3.0)
  tokens, valid = _batch(TINY)
  other = np.where(valid, tokens, 17)
  np.testing.assert_allclose(
      _forward(TINY, params, tokens, valid)[valid],
      _forward(TINY, params, other, valid)[valid],
      atol=1e-5,
  )


@pytest.mark.parametrize("scores", ["einsum", "reduce"])
def test_cached_decoding_equals_full_forward(scores):
  """Prefill 4 tokens, then feed 3 one by one through the cache, with
  either form of a decoded token's attention scores."""
  cfg = dataclasses.replace(TINY, decode_scores=scores)
  params = init_params(TINY, scale=3.0)
  tokens, valid = _batch(cfg, t=7)
  valid[2, :] = True
  full = _forward(cfg, params, tokens, valid)
  model = CausalLM(cfg)
  pos = positions_from_valid(jnp.asarray(valid))
  cache = init_cache(cfg, 3, 9)
  logits, _, cache = model.apply(
      {"params": params}, tokens[:, :4], pos[:, :4], valid[:, :4], cache
  )
  steps = [np.asarray(logits)]
  for t in range(4, 7):
    logits, _, cache = model.apply(
        {"params": params},
        tokens[:, t : t + 1],
        pos[:, t : t + 1],
        valid[:, t : t + 1],
        cache,
    )
    steps.append(np.asarray(logits))
  np.testing.assert_allclose(
      np.concatenate(steps, 1)[valid], full[valid], atol=1e-4
  )
  assert int(cache.index) == 7


def test_rope_rotates_pairs_by_position_angle():
  x = np.zeros((1, 2, 1, 4), np.float32)
  x[0, :, 0, 0] = 1.0  # pair (0, 2) gets angle pos * theta^0 = pos.
  out = np.asarray(rope(jnp.asarray(x), jnp.asarray([[0, 3]]), 100.0))
  np.testing.assert_allclose(
      out[0, 1, 0], [np.cos(3), 0, np.sin(3), 0], atol=1e-6
  )
  np.testing.assert_allclose(out[0, 0, 0], [1, 0, 0, 0], atol=1e-6)


def test_bfloat16_compute_close_to_float32():
  cfg = dataclasses.replace(TINY, dtype="bfloat16")
  params = init_params(TINY, scale=1.0)
  tokens, valid = _batch(TINY)
  lo = _forward(cfg, params, tokens, valid)
  hi = _forward(TINY, params, tokens, valid)
  assert np.abs(lo - hi)[valid].max() < 0.1 * np.abs(hi[valid]).max() + 0.05


def test_every_param_has_logical_axes():
  toks = jnp.ones((1, 4), jnp.int32)
  boxed = jax.eval_shape(
      lambda: CausalLM(dataclasses.replace(TINY, qkv_bias=True)).init(
          jax.random.PRNGKey(0), toks, toks, toks > 0
      )
  )["params"]
  leaves = jax.tree.leaves(boxed, is_leaf=lambda x: hasattr(x, "names"))
  names = {n for leaf in leaves for n in leaf.names}
  assert all(hasattr(leaf, "names") for leaf in leaves)
  assert names == {"vocab", "embed", "heads", "kv_heads", "head_dim", "mlp"}


def test_value_head_is_a_per_token_linear_map_of_hidden():
  model = ScalarModel(TINY, head_name="value_head")
  tokens, valid = _batch(TINY)
  pos = positions_from_valid(jnp.asarray(valid))
  params = nn.unbox(
      model.init(jax.random.PRNGKey(0), tokens, pos, valid)["params"]
  )
  params = jax.tree.map(lambda x: x + 0.5, params)  # head init is zero.
  out = model.apply({"params": params}, tokens, pos, valid)
  hidden, _ = Backbone(TINY).apply(
      {"params": params["model"]}, tokens, pos, valid
  )
  want = np.asarray(hidden) @ np.asarray(params["value_head"]["kernel"]) + 0.5
  np.testing.assert_allclose(np.asarray(out), want, atol=1e-5)
  assert out.shape == tokens.shape


@pytest.mark.parametrize("tie", [False, True])
def test_logits_slice_is_the_slice_of_full_logits(tie):
  cfg = dataclasses.replace(TINY, tie_embeddings=tie)
  params = init_params(cfg, scale=3.0)
  tokens, valid = _batch(cfg)
  want = np_forward(params, cfg, tokens, valid)[:, 2:5]
  got, _, _ = CausalLM(cfg).apply(
      {"params": params},
      jnp.asarray(tokens),
      positions_from_valid(jnp.asarray(valid)),
      jnp.asarray(valid),
      logits_slice=(2, 3),
  )
  np.testing.assert_allclose(
      np.asarray(got)[valid[:, 2:5]], want[valid[:, 2:5]], atol=2e-4, rtol=1e-4
  )


def test_remat_gives_the_same_loss_and_gradients():
  """Rematerialisation changes memory, not the math."""
  params = init_params(TINY, scale=3.0)
  tokens, valid = _batch(TINY)

  def loss_and_grad(cfg):
    def loss(p):
      logits, _, _ = CausalLM(cfg).apply(
          {"params": p},
          jnp.asarray(tokens),
          positions_from_valid(jnp.asarray(valid)),
          jnp.asarray(valid),
      )
      return jnp.sum(
          jnp.where(valid[..., None], jax.nn.log_softmax(logits) ** 2, 0.0)
      )

    return jax.jit(jax.value_and_grad(loss))(params)

  l0, g0 = loss_and_grad(TINY)
  l1, g1 = loss_and_grad(dataclasses.replace(TINY, remat=True))
  np.testing.assert_allclose(l1, l0, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  assert float(jnp.abs(jax.tree.leaves(g0)[0]).max()) > 0  # not all zero.


def test_fused_attention_path_matches_numpy_reference():
  """jax.nn.dot_product_attention (XLA here; cuDNN on GPU) = the reference."""
  cfg = dataclasses.replace(TINY, attention="xla")
  params = init_params(cfg, scale=3.0)
  tokens, valid = _batch(cfg)
  got = _forward(cfg, params, tokens, valid)
  want = np_forward(params, cfg, tokens, valid)
  np.testing.assert_allclose(got[valid], want[valid], atol=2e-4, rtol=1e-4)
  assert np.isfinite(got).all()  # padding queries too: no fully masked row.


def _dot_precisions(cfg, cache=False):
  """The precision of every dot_general in a forward pass (full or cached),
  read from the jaxpr."""
  params = init_params(TINY)
  tokens, valid = _batch(TINY)
  pos = positions_from_valid(jnp.asarray(valid))

  def fwd(p):
    c = init_cache(cfg, 3, 8) if cache else None
    return CausalLM(cfg).apply({"params": p}, tokens, pos, valid, c)[0]

  found = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "dot_general":
        found.append(eqn.params["precision"])
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        walk(sub)

  walk(jax.make_jaxpr(fwd)(params).jaxpr)
  return found


@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize(
    "dtype,precision,want",
    [
        ("float32", "auto", jax.lax.Precision.HIGHEST),
        ("bfloat16", "auto", jax.lax.Precision.DEFAULT),
        ("bfloat16", "highest", jax.lax.Precision.HIGHEST),
        ("float32", "default", jax.lax.Precision.DEFAULT),
    ],
)
def test_precision_reaches_every_dot(dtype, precision, want, cache):
  """model.precision is applied to every matmul of the model (projections,
  attention scores and values, MLP, LM head), so the sampler, the log-prob
  pass and the learner all multiply at one precision; "auto" is exact for
  float32 compute (not TF32 on GPU nor one bf16 pass on TPU)."""
  cfg = dataclasses.replace(TINY, dtype=dtype, precision=precision)
  found = _dot_precisions(cfg, cache)
  # 4 projections + 2 attention + 3 MLP per layer, plus the LM head.
  assert len(found) == TINY.n_layers * 9 + 1, len(found)
  for p in found:
    assert p is not None and tuple(p) == (want, want), p
