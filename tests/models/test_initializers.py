"""Batched init (models/initializers.py) against Flax's own per-parameter
draws: the values must be the same bits, the boxes the same axes."""

import dataclasses

from conftest import TINY
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from reasoning_jax.models import CausalLM
from reasoning_jax.models import initializers
from reasoning_jax.models import ScalarModel
from reasoning_jax.parallel import sharding
from reasoning_jax.train import state as state_lib


class _Mixed(nn.Module):
  """Two stddevs, two dtypes, sizes that are not each other's multiples,
  a deterministic initializer and a nested module."""

  @nn.compact
  def __call__(self, x):
    a = self.param("a", initializers.normal(0.02), (7, 5))
    b = self.param("b", initializers.normal(1.0), (3,))
    c = self.param("c", initializers.normal(0.02), (2, 3, 4), jnp.bfloat16)
    ones = self.param("ones", nn.initializers.ones, (5,))
    inner = nn.Dense(4, kernel_init=initializers.normal(0.5), name="inner")(x)
    return x @ a * ones + b.sum() + c.sum() + inner.sum()


def _bitwise_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  return all(
      x.dtype == y.dtype
      and np.array_equal(np.asarray(x, np.float32), np.asarray(y, np.float32))
      for x, y in zip(la, lb)
  )


def _flax_and_batched(init_fn, rng):
  want = jax.jit(init_fn)(rng)
  keys = initializers.parameter_keys(init_fn, rng)
  got = jax.jit(lambda k, ks: initializers.init_params(init_fn, k, ks))(
      rng, keys
  )
  return want, got


@pytest.mark.parametrize(
    "make",
    [
        lambda: (_Mixed(), jnp.ones((2, 7))),
        lambda: (CausalLM(TINY), jnp.ones((1, 6), jnp.int32)),
        lambda: (
            ScalarModel(dataclasses.replace(TINY, param_dtype="bfloat16")),
            jnp.ones((1, 6), jnp.int32),
        ),
    ],
    ids=["mixed", "policy", "scalar_bf16"],
)
def test_batched_init_is_bitwise_flax_init(make):
  module, x = make()
  args = (x,) if x.ndim == 2 and x.dtype != jnp.int32 else (x, x, x > 0)
  init_fn = lambda k: module.init(k, *args)["params"]
  want, got = _flax_and_batched(init_fn, jax.random.PRNGKey(3))
  assert _bitwise_equal(nn.unbox(want), nn.unbox(got))
  # The logical-axis boxes are the module's own.
  is_box = lambda v: isinstance(v, nn.LogicallyPartitioned)
  names = lambda t: [
      v.names if is_box(v) else None for v in jax.tree.leaves(t, is_leaf=is_box)
  ]
  assert names(want) == names(got)
  # And the draws are random: another key, other values.
  other = jax.jit(init_fn)(jax.random.PRNGKey(4))
  assert not _bitwise_equal(nn.unbox(want), nn.unbox(other))


def test_normal_outside_init_params_is_flax_normal():
  key = jax.random.PRNGKey(0)
  got = initializers.normal(0.3)(key, (4, 9), jnp.float32)
  want = nn.initializers.normal(0.3)(key, (4, 9), jnp.float32)
  np.testing.assert_array_equal(got, want)
  assert 0.1 < float(jnp.std(got)) < 0.5


def test_no_normal_parameters_gives_no_keys():
  init_fn = lambda k: nn.Dense(3, kernel_init=nn.initializers.zeros).init(
      k, jnp.ones((1, 2))
  )["params"]
  assert initializers.parameter_keys(init_fn, jax.random.PRNGKey(0)) is None


def test_fresh_train_state_holds_the_flax_init_sharded():
  """``create_state`` without ``params`` (the batched path) equals
  ``model.init`` on the state's init key, with the rules' shardings.
  (tests/parallel runs it on 8 devices.)"""
  model = CausalLM(TINY)
  dummy = jnp.ones((1, 6), jnp.int32)
  init_fn = lambda k: model.init(k, dummy, dummy, dummy > 0)["params"]
  rng = jax.random.PRNGKey(7)
  mesh = sharding.make_mesh({"data": 1, "fsdp": -1, "tensor": 1})
  rules = (("vocab", "fsdp"), ("embed", None), ("mlp", "fsdp"))
  state, shardings = state_lib.create_state(
      init_fn, optax.adam(1e-3), rng, mesh, rules
  )
  want = nn.unbox(jax.jit(init_fn)(jax.random.split(rng)[0]))
  assert _bitwise_equal(want, state.params)
  emb = state.params["model"]["embed_tokens"]
  assert emb.sharding == shardings.params["model"]["embed_tokens"]


def test_a_parameter_changed_after_its_init_falls_back_to_flax():
  """A module that transforms its parameter's initial value (here, a cast)
  leaves a placeholder the batched init cannot find: Flax draws it."""

  class Cast(nn.Module):

    @nn.compact
    def __call__(self, x):
      w = self.param(
          "w",
          lambda k, s: initializers.normal(1.0)(k, s).astype(jnp.bfloat16),
          (3,),
      )
      return x * w

  init_fn = lambda k: Cast().init(k, jnp.ones((3,)))["params"]
  want, got = _flax_and_batched(init_fn, jax.random.PRNGKey(0))
  assert _bitwise_equal(want, got)
  assert float(jnp.abs(got["w"].astype(jnp.float32)).sum()) > 0  # not zeros.


def test_remat_layers_init_as_flax_does():
  """Under ``nn.remat`` the keys belong to the remat trace: no keys are
  recorded and the state holds Flax's own init."""
  model = CausalLM(dataclasses.replace(TINY, remat=True))
  dummy = jnp.ones((1, 6), jnp.int32)
  init_fn = lambda k: model.init(k, dummy, dummy, dummy > 0)["params"]
  rng = jax.random.PRNGKey(2)
  assert initializers.parameter_keys(init_fn, rng) is None
  mesh = sharding.make_mesh({"data": 1, "fsdp": -1, "tensor": 1})
  state, _ = state_lib.create_state(init_fn, optax.sgd(1.0), rng, mesh, ())
  want = nn.unbox(jax.jit(init_fn)(jax.random.split(rng)[0]))
  assert _bitwise_equal(want, state.params)


def _records(sizes, stddevs=None):
  stddevs = stddevs or [0.02] * len(sizes)
  return [
      initializers._Record(None, (n,), jnp.dtype(jnp.float32), s, None)
      for n, s in zip(sizes, stddevs)
  ]


def test_groups_bound_the_padded_draw_by_hand():
  """Largest first; a group closes when its [n, M] buffer would hold more
  than twice its numbers or more than ``max_numbers``."""
  groups = initializers._groups  # pylint: disable=protected-access
  # 100, 60, 60, 30, 10: padded 500 <= 2 * 260.
  assert groups(_records([10, 60, 100, 30, 60])) == [[2, 1, 4, 3, 0]]
  # 100, 10 (200 <= 220); a third 10 would pad 300 > 240.
  assert groups(_records([100, 10, 10, 10])) == [[0, 1], [2, 3]]
  assert groups(_records([100, 60, 60]), max_numbers=250) == [[0, 1], [2]]
  # Another stddev is another draw.
  assert groups(_records([50, 50], [0.02, 1.0])) == [[0], [1]]
  # A 0.5B-shaped policy: the big parameters alone or in threes.
  sizes = [151936 * 896] + [896 * 4864] * 72 + [896 * 896] * 48
  for g in groups(_records(sizes)):
    padded = len(g) * sizes[g[0]]
    assert len(g) == 1 or padded <= min(1 << 24, 2 * sum(sizes[i] for i in g))


def test_non_partitionable_threefry_inits_as_flax_does():
  """Without ``jax_threefry_partitionable`` a prefix of a longer draw is
  not the same draw: no keys are recorded and Flax draws."""
  module = _Mixed()
  init_fn = lambda k: module.init(k, jnp.ones((2, 7)))["params"]
  rng = jax.random.PRNGKey(1)
  with jax.threefry_partitionable(False):
    assert initializers.parameter_keys(init_fn, rng) is None
    mesh = sharding.make_mesh({"data": 1, "fsdp": -1, "tensor": 1})
    state, _ = state_lib.create_state(init_fn, optax.sgd(1.0), rng, mesh, ())
    want = jax.jit(init_fn)(jax.random.split(rng)[0])
  assert _bitwise_equal(want, state.params)
