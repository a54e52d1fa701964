"""Random parameter init in a few batched draws, bit-identical to Flax's.

Flax gives each parameter its own PRNG key, folded from the module path. A
model's ``init`` traced under one ``jit`` therefore holds a separate threefry
and inverse-erf kernel per parameter; for the default 4-layer policy that is
395 fusions and about 2 s of XLA:CPU compile, the largest single compile of a
first run. ``init_params`` gets the same values from two small programs:

1. ``parameter_keys``: every recorded parameter's key, ``[P, 2]``. Only
   integer hashing (fold-ins) survives dead-code elimination, so this jit is
   compiled without LLVM optimisation: exact at any optimisation level, and
   cheap to compile.
2. ``init_params`` (inside the caller's jit): parameters with the same
   stddev and dtype are drawn together, ``vmap`` over their keys of one
   ``normal(key, (M,))`` with M their largest size; each parameter is the first
   prod(shape) numbers of its row, reshaped.

Why the values are Flax's own: with ``jax_threefry_partitionable`` (JAX's
default) element i of ``normal(key, shape)`` depends only on the key and the
flat index i, so a prefix of a longer draw, reshaped, is the same draw.
``tests/models/test_initializers.py`` checks bit equality against
``model.init``.

Models opt in by using ``normal(stddev)`` as their initializer; outside
``init_params`` it is exactly ``flax.linen.initializers.normal``.
"""

import contextlib
import dataclasses
import math
import threading
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_LOCAL = threading.local()
_NO_LLVM_OPT = {"xla_backend_optimization_level": 0}


@dataclasses.dataclass(frozen=True)
class _Record:
  key: jax.Array  # [2] uint32: Flax's key for the parameter.
  shape: tuple[int, ...]
  dtype: Any
  stddev: float
  placeholder: jax.Array  # the zeros returned in its place.


def normal(stddev: float) -> Callable[..., jax.Array]:
  """``nn.initializers.normal(stddev)`` that ``init_params`` can batch."""
  draw = nn.initializers.normal(stddev)

  def init(key, shape, dtype=jnp.float32):
    records = getattr(_LOCAL, "records", None)
    if records is None:
      return draw(key, shape, dtype)
    placeholder = jnp.zeros(shape, dtype)
    records.append(
        _Record(key, tuple(shape), jnp.dtype(dtype), stddev, placeholder)
    )
    return placeholder

  return init


@contextlib.contextmanager
def _recording():
  outer = getattr(_LOCAL, "records", None)
  _LOCAL.records = []
  try:
    yield _LOCAL.records
  finally:
    _LOCAL.records = outer


def parameter_keys(
    init_params_fn: Callable[[jax.Array], Any], rng: jax.Array
) -> jax.Array | None:
  """[P, 2] uint32: the keys Flax gives the P ``normal`` parameters of
  ``init_params_fn(rng)`` (``rng`` a raw ``PRNGKey``), in call order.

  A host array, like ``rng`` itself: every process of a multi-host run
  computes the same keys and may pass them to a jit over the global mesh.
  None when ``init_params_fn`` creates no ``normal`` parameter.
  """

  def keys_fn(rng):
    with _recording() as records:
      init_params_fn(rng)
    return jnp.stack([r.key for r in records]) if records else None

  keys = jax.jit(keys_fn, compiler_options=_NO_LLVM_OPT)(rng)
  return None if keys is None else np.asarray(keys)


def _draw(records: list[_Record], keys: jax.Array) -> list[jax.Array]:
  """Each record's values: one vmapped draw per (stddev, dtype) group."""
  groups = {}
  for i, r in enumerate(records):
    groups.setdefault((r.stddev, r.dtype), []).append(i)
  values = [None] * len(records)
  for (stddev, dtype), idx in groups.items():
    size = max(math.prod(records[i].shape) for i in idx)
    draw = nn.initializers.normal(stddev)
    rows = jax.vmap(lambda k: draw(k, (size,), dtype))(keys[jnp.array(idx)])
    for row, i in zip(rows, idx):
      shape = records[i].shape
      values[i] = row[: math.prod(shape)].reshape(shape)
  return values


def init_params(
    init_params_fn: Callable[[jax.Array], Any],
    rng: jax.Array,
    keys: jax.Array | None,
) -> Any:
  """``init_params_fn(rng)`` with its ``normal`` draws batched; trace in a jit.

  ``keys`` is ``parameter_keys(init_params_fn, rng)`` ([P, 2]); None draws
  as Flax does. Other initializers (ones, zeros) and any logical-axis boxes
  are ``init_params_fn``'s own.
  """
  if keys is None:
    return init_params_fn(rng)
  with _recording() as records:
    boxed = init_params_fn(rng)
  assert keys.shape[0] == len(records), (keys.shape, len(records))
  # ``records`` holds every placeholder, so no id is reused meanwhile.
  by_id = {id(r.placeholder): v for r, v in zip(records, _draw(records, keys))}
  used = set()

  def substitute(x):
    if id(x) in by_id:
      used.add(id(x))
      return by_id[id(x)]
    return x

  params = jax.tree.map(substitute, boxed)
  if len(used) != len(records):  # e.g. a module that copies or casts.
    raise ValueError(
        f"{len(records) - len(used)} of {len(records)} recorded parameters "
        "are not in the init's output as created; initialise this model "
        "with flax's own init"
    )
  return params
