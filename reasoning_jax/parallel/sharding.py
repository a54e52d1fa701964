"""Device mesh from the config and logical-axis -> mesh-axis shardings.

Models name logical axes only (``vocab``, ``embed``, ``heads``, ...). One rules
table in the config, ``config.logical_axis_rules``, maps each name to mesh
axes; this module is the only place that turns those names into
``NamedSharding``s. Mesh axes are ``('data', 'fsdp', 'tensor')``; one size may
be -1, meaning all remaining devices.
"""

from typing import Sequence

import flax.linen as nn
import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

MESH_AXES = ("data", "fsdp", "tensor")


def mesh_shape(sizes: dict, n_devices: int) -> tuple[int, ...]:
  """Resolves a ``{data, fsdp, tensor}`` size dict (one may be -1)."""
  shape = [int(sizes[a]) for a in MESH_AXES]
  if shape.count(-1) > 1 or any(s == 0 or s < -1 for s in shape):
    raise ValueError(
        "mesh sizes must be positive with at most one -1, "
        f"got {dict(zip(MESH_AXES, shape))}"
    )
  known = int(np.prod([s for s in shape if s != -1]))
  if -1 in shape:
    if n_devices % known:
      raise ValueError(
          f"mesh {dict(zip(MESH_AXES, shape))} does not divide "
          f"{n_devices} devices"
      )
    shape[shape.index(-1)] = n_devices // known
  if int(np.prod(shape)) != n_devices:
    raise ValueError(
        f"mesh {dict(zip(MESH_AXES, shape))} needs "
        f"{int(np.prod(shape))} devices, have {n_devices}"
    )
  return tuple(shape)


def make_mesh(sizes: dict, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A ``Mesh`` with automatic (not explicit) axis types, as Linen needs."""
  devices = list(devices if devices is not None else jax.devices())
  shape = mesh_shape(sizes, len(devices))
  return Mesh(np.asarray(devices).reshape(shape), MESH_AXES)


def logical_shardings(boxed_tree, mesh: Mesh, rules):
  """NamedShardings for a tree of (abstract) ``nn.LogicallyPartitioned`` leaves.

  Unannotated leaves (step counters, RNG keys) are replicated.
  """
  specs = nn.get_partition_spec(boxed_tree)
  return nn.logical_to_mesh_sharding(specs, mesh, [tuple(r) for r in rules])


def param_shardings(model, mesh: Mesh, rules):
  """Shardings of ``model``'s parameters from their logical axes (abstract
  init: nothing is allocated). Any module called as (tokens, positions,
  valid) works: the policy or a scalar head."""
  dummy = jax.ShapeDtypeStruct((1, 8), np.int32)
  boxed = jax.eval_shape(
      lambda x: model.init(jax.random.PRNGKey(0), x, x, x > 0)["params"], dummy
  )
  return logical_shardings(boxed, mesh, rules)


def batch_sharding(mesh: Mesh, rules) -> NamedSharding:
  """Leading (batch) dim over the mesh axes the ``batch`` rule names; the
  remaining dims (any number) replicated."""
  spec = nn.logical_to_mesh_axes(("batch",), [tuple(r) for r in rules])
  return NamedSharding(mesh, spec)


def named(mesh: Mesh, rules, logical_axes) -> NamedSharding:
  """A ``NamedSharding`` for an array whose dims have these logical names
  (``None`` for an unsharded dim)."""
  return NamedSharding(
      mesh,
      nn.logical_to_mesh_axes(tuple(logical_axes), [tuple(r) for r in rules]),
  )


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())
