"""Multi-controller JAX: one process per host, each feeding its own rows.

Every process runs the same program. Batches are *global* ``jax.Array``s
sharded over the mesh's batch axes; a process builds its part from
process-local host data (``to_global``), reads its rows of an output back
(``local_rows``), and gets a small host array from every process with
``allgather`` (rewards, verdicts: text is scored where it was sampled). With
one process these are plain ``device_put`` / ``np.asarray``.
"""

import json
import os
import sys

from absl import flags
from absl import logging
import jax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np


def define_flags():
  """``--coordinator_address``, ``--num_processes``, ``--process_id`` (once
  per program, for every entrypoint)."""
  if "coordinator_address" in flags.FLAGS:
    return
  flags.DEFINE_string(
      "coordinator_address",
      "",
      "host:port of process 0, for a multi-process run.",
  )
  flags.DEFINE_integer("num_processes", 0, "Processes in a multi-process run.")
  flags.DEFINE_integer("process_id", -1, "This process's index (0-based).")


def initialize_from_flags() -> bool:
  """``initialize`` with the ``define_flags`` values; exits on bad values."""
  f = flags.FLAGS
  try:
    return initialize(f.coordinator_address, f.num_processes, f.process_id)
  except ValueError as e:
    sys.exit(f"error: {e}")


def initialize(
    coordinator_address: str = "",
    num_processes: int = 0,
    process_id: int = -1,
    *,
    timeout_s: int = 300,
) -> bool:
  """``jax.distributed.initialize`` when this is a multi-process run.

  Explicit ``coordinator_address`` / ``num_processes`` / ``process_id``
  (e.g. several processes on one machine) win; otherwise a multi-host Cloud
  TPU slice is detected from its environment (``TPU_WORKER_HOSTNAMES`` lists
  more than one worker) and JAX finds the rest itself. Must run before any
  other JAX call. Returns whether it initialised.
  """
  if coordinator_address or num_processes > 1:
    if not (coordinator_address and num_processes > 0 and process_id >= 0):
      raise ValueError(
          "multi-process run needs all of --coordinator_address, "
          f"--num_processes and --process_id; got {coordinator_address!r}, "
          f"{num_processes}, {process_id}"
      )
    if process_id >= num_processes:
      raise ValueError(
          f"--process_id={process_id} must be < --num_processes={num_processes}"
      )
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=timeout_s,
    )
    return True
  hosts = [
      h for h in os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h
  ]
  if len(hosts) > 1:
    jax.distributed.initialize()
    logging.info(
        "jax.distributed: process %d of %d on a %d-host TPU slice",
        jax.process_index(),
        jax.process_count(),
        len(hosts),
    )
    return True
  return False


def process_rows(sharding: NamedSharding, n: int) -> slice:
  """The rows ``[start, stop)`` of an ``[n, ...]`` batch this process feeds.

  With the batch split over processes these are disjoint blocks; a process
  whose devices all hold the same rows feeds all of them.
  """
  starts, stops = set(), set()
  for idx in sharding.addressable_devices_indices_map((n,)).values():
    s = idx[0]
    starts.add(s.start or 0)
    stops.add(n if s.stop is None else s.stop)
  lo, hi = min(starts), max(stops)
  return slice(lo, hi)


def to_global(local: np.ndarray, sharding: NamedSharding, n: int) -> jax.Array:
  """A global ``[n, ...]`` array from this process's rows ``process_rows``."""
  local = np.asarray(local)
  rows = process_rows(sharding, n)
  if local.shape[0] != rows.stop - rows.start:
    raise ValueError(
        f"process {jax.process_index()} feeds rows {rows} of "
        f"{n} but got {local.shape[0]}"
    )
  if jax.process_count() == 1:
    return jax.device_put(local, sharding)
  return jax.make_array_from_process_local_data(
      sharding, local, (n, *local.shape[1:])
  )


def local_rows(x: jax.Array) -> np.ndarray:
  """This process's rows (``process_rows``) of a batch-sharded array."""
  if x.is_fully_addressable:
    n = x.shape[0]
    rows = (
        process_rows(x.sharding, n)
        if isinstance(x.sharding, NamedSharding)
        else slice(0, n)
    )
    return np.asarray(x)[rows]
  pieces = {}
  for shard in x.addressable_shards:
    s = shard.index[0] if shard.index else slice(None)
    pieces.setdefault(s.start or 0, np.asarray(shard.data))
  return np.concatenate([pieces[k] for k in sorted(pieces)], 0)


def allgather(tree, sharding: NamedSharding, n: int):
  """A tree of whole ``[n, ...]`` host arrays, each assembled from every
  process's rows of the same leaf (one collective for the whole tree)."""
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, tree)
  g = jax.tree.map(lambda x: to_global(x, sharding, n), tree)
  full = jax.jit(lambda t: t, out_shardings=NamedSharding(sharding.mesh, P()))(
      g
  )
  return jax.tree.map(np.asarray, full)


def _flags(flag: bool) -> np.ndarray:
  if jax.process_count() == 1:
    return np.asarray([flag])
  return np.asarray(
      multihost_utils.process_allgather(np.asarray([flag], np.int32))
  )


def all_processes(flag: bool) -> bool:
  """True when ``flag`` is True on every process (a collective)."""
  return bool(np.all(_flags(flag)))


def any_process(flag: bool) -> bool:
  """True when ``flag`` is True on some process (a collective)."""
  return bool(np.any(_flags(flag)))


def from_process_0(read):
  """``read()`` run on process 0 alone, its result (anything JSON can
  write, returned as JSON reads it back) on every process: a collective.

  For what process 0 alone reads from its disk, e.g. the stage records in
  a remote workdir's local logdir: every process then takes the same
  branch of code whose steps are collective. An exception in ``read``
  reaches every process (process 0 raises it, the others a RuntimeError
  that quotes it) instead of leaving them waiting.
  """
  if jax.process_count() == 1:
    return json.loads(json.dumps(read()))
  first, error = jax.process_index() == 0, None
  data = b""
  if first:
    try:
      data = json.dumps({"value": read()}).encode()
    except Exception as e:  # pylint: disable=broad-except
      error = e
      data = json.dumps({"error": f"{type(e).__name__}: {e}"}).encode()
  n = int(multihost_utils.broadcast_one_to_all(np.int32(len(data))))
  buf = np.zeros(n, np.uint8)
  if first:
    buf[:] = np.frombuffer(data, np.uint8)
  got = json.loads(
      np.asarray(multihost_utils.broadcast_one_to_all(buf)).tobytes()
  )
  if error is not None:
    raise error
  if "error" in got:
    raise RuntimeError(f"process 0: {got['error']}")
  return got["value"]


def barrier(name: str) -> None:
  """Every process waits here until all have arrived (no-op on one)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)
