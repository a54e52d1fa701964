"""Random parameter init in a few batched draws, bit-identical to Flax's.

Flax gives each parameter its own PRNG key, folded from the module path. A
model's ``init`` traced under one ``jit`` therefore holds a separate threefry
and inverse-erf kernel per parameter: hundreds of fusions, the largest
single compile of a first run (BENCHMARKS.md, compile time). ``init_params``
gets the same values from two small programs:

1. ``parameter_keys``: every recorded parameter's key, ``[P, 2]``. Only
   integer hashing (fold-ins) survives dead-code elimination, so this jit is
   compiled without LLVM optimisation: exact at any optimisation level, and
   cheap to compile.
2. ``init_params`` (inside the caller's jit): parameters of one stddev and
   dtype are drawn together, ``vmap`` over their keys of one
   ``normal(key, (M,))``, M the group's largest size; each parameter is the
   first prod(shape) numbers of its row, reshaped. Groups are cut so that
   the padded buffer holds at most twice the parameters' numbers and at
   most 2^24 (a large model's big parameters are drawn one by one, as Flax
   does; the batching is for the many small ones).

Why the values are Flax's own: with ``jax_threefry_partitionable`` (JAX's
default) element i of ``normal(key, shape)`` depends only on the key and the
flat index i, so a prefix of a longer draw, reshaped, is the same draw.

``tests/models/test_initializers.py`` checks bit equality with
``model.init``. Models opt in by using ``normal(stddev)`` as their
initializer; outside ``init_params`` it is exactly
``flax.linen.initializers.normal``. Where the keys cannot be recorded (a
layer under ``nn.remat``, whose keys are the remat trace's; a PRNG other
than partitionable threefry) or a parameter is not returned as created,
the init is Flax's own.
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
  None (draw as Flax does) when ``init_params_fn`` creates no ``normal``
  parameter or its keys cannot be recorded.
  """

  if not (
      jax.config.jax_default_prng_impl == "threefry2x32"
      and jax.config.jax_threefry_partitionable
  ):
    return None

  def keys_fn(rng):
    with _recording() as records:
      init_params_fn(rng)
    return jnp.stack([r.key for r in records]) if records else None

  try:
    keys = jax.jit(keys_fn, compiler_options=_NO_LLVM_OPT)(rng)
  except jax.errors.UnexpectedTracerError:  # keys of an inner trace (remat).
    return None
  return None if keys is None else np.asarray(keys)


def _groups(
    records: list[_Record], max_waste: float = 2.0, max_numbers: int = 1 << 24
) -> list[list[int]]:
  """Indices of the records drawn together: one stddev and dtype, sizes
  taken largest first while the group's padded [n, M] buffer (M its
  largest size) holds at most ``max_waste`` times its parameters' numbers
  and at most ``max_numbers`` (64 MB of float32, a bound on the draw's
  temporaries). The default policy is 2 groups; a parameter as large as
  the cap (a 0.5B model's embedding or MLP) is a group of its own."""
  size = lambda i: math.prod(records[i].shape)
  kinds = {}
  for i, r in enumerate(records):
    kinds.setdefault((r.stddev, r.dtype), []).append(i)
  groups = []
  for idx in kinds.values():
    current, total = [], 0
    for i in sorted(idx, key=lambda i: -size(i)):
      padded = (len(current) + 1) * size(current[0]) if current else 0
      if current and (
          padded > max_waste * (total + size(i)) or padded > max_numbers
      ):
        groups.append(current)
        current, total = [], 0
      current.append(i)
      total += size(i)
    groups.append(current)
  return groups


def _draw(records: list[_Record], keys: jax.Array) -> list[jax.Array]:
  """Each record's values: per group, ``vmap`` of ``normal(key, (M,))`` over
  its keys, each parameter the first prod(shape) numbers of its row; a group
  of one is Flax's own draw."""
  values = [None] * len(records)
  for idx in _groups(records):
    first = records[idx[0]]
    draw = nn.initializers.normal(first.stddev)
    if len(idx) == 1:
      values[idx[0]] = draw(keys[idx[0]], first.shape, first.dtype)
      continue
    size = math.prod(first.shape)
    rows = jax.vmap(lambda k: draw(k, (size,), first.dtype))(
        keys[np.asarray(idx)]
    )
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
  if keys.shape[0] != len(records):
    raise ValueError(f"{keys.shape[0]} keys for {len(records)} parameters")
  # ``records`` holds every placeholder, so no id is reused meanwhile.
  by_id = {id(r.placeholder): v for r, v in zip(records, _draw(records, keys))}
  found = {id(x) for x in jax.tree.leaves(boxed)} & by_id.keys()
  if len(found) != len(records):  # a module that copies or casts its init.
    return init_params_fn(rng)  # draws as Flax does.
  return jax.tree.map(lambda x: by_id.get(id(x), x), boxed)
