"""Device peaks and timers for the benchmarks: float32 matmul FLOP/s, copy
bandwidth, median wall time after warm-up, ahead-of-time compile time."""

import time

import jax
import jax.numpy as jnp
import numpy as np


def measure_peak_flops(n: int = 2048, reps: int = 5) -> dict:
  """Float32 ``n``×``n`` matmul FLOP/s, 2n³ / best time, with numpy and
  with XLA (n = 1024 was too short to time on a 2-core CPU: BENCHMARKS.md).
  """
  a = np.random.RandomState(0).randn(n, n).astype(np.float32)
  f = jax.jit(lambda x: x @ x)
  x = jnp.asarray(a)
  f(x).block_until_ready()
  return {
      "numpy": 2 * n**3 / _best_time(lambda: a @ a, reps),
      "xla": 2 * n**3 / _best_time(lambda: f(x).block_until_ready(), reps),
  }


def _best_time(fn, reps: int) -> float:
  t = []
  for _ in range(reps):
    t0 = time.perf_counter()
    fn()
    t.append(time.perf_counter() - t0)
  return min(t)


def measure_bandwidth(mbytes: int = 512, reps: int = 5) -> float:
  """Bytes/s of a jitted elementwise pass (``mbytes`` read + written)."""
  x = jnp.ones((mbytes * 2**20 // 4,), jnp.float32)
  f = jax.jit(lambda v: v * 1.0001)
  f(x).block_until_ready()
  return 2 * x.nbytes / _best_time(lambda: f(x).block_until_ready(), reps)


def median_time(fn, warmup: int, reps: int) -> tuple[float, list[float]]:
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return float(np.median(times)), times


def compile_seconds(jitted, *args) -> float:
  """Trace + lower + compile time, with JAX's in-memory caches emptied."""
  jax.clear_caches()
  t0 = time.perf_counter()
  jitted.lower(*args).compile()
  return time.perf_counter() - t0
