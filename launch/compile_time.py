r"""How long a run compiles: JAX's compile events, summed, per executable.

  python launch/compile_time.py --config=configs/default.py --workdir=/tmp/ct \
      --config.sft.steps=20 --config.rl.steps=2 --config.eval.num_problems=256

Runs ``reasoning_jax.main`` in this process with the flags given (any of
main's) and prints one JSON line after it: XLA compile seconds
(``backend_compile``; for an executable found in the persistent cache,
``<workdir>/jax_cache``, the time to read it), jaxpr tracing and MLIR
lowering seconds, the number of executables and how many came from the
cache, wall seconds, and the slowest compiles with the
line of ``reasoning_jax`` that asked for each. BENCHMARKS.md's compile
tables come from it; the command above has the default job's shapes with
one RL length bucket.
"""

import collections
import json
import os
import sys
import time
import traceback

from jax import monitoring

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SECONDS = collections.defaultdict(float)
_COUNTS = collections.Counter()
_COMPILES = []  # (seconds, executable, asked from).


def _asked_from() -> str:
  frames = [
      f
      for f in traceback.extract_stack()
      if f"{os.sep}reasoning_jax{os.sep}" in f.filename
  ]
  if not frames:
    return "?"
  f = frames[-1]
  return f"{os.path.relpath(f.filename, ROOT)}:{f.lineno}"


def _on_duration(event: str, secs: float, **kw) -> None:
  name = event.rsplit("/", 1)[-1]
  _SECONDS[name] += secs
  if name == "backend_compile_duration":
    _COMPILES.append((secs, kw.get("fun_name", "?"), _asked_from()))


def _on_event(event: str, **kw) -> None:
  del kw
  _COUNTS[event.rsplit("/", 1)[-1]] += 1


def main() -> None:
  monitoring.register_event_duration_secs_listener(_on_duration)
  monitoring.register_event_listener(_on_event)
  sys.path.insert(0, ROOT)
  from reasoning_jax import cli  # pylint: disable=g-import-not-at-top
  from reasoning_jax import main as main_lib  # pylint: disable=g-import-not-at-top

  t0 = time.perf_counter()
  code = 0
  main_lib.define_flags()
  try:
    cli.run(main_lib.main)
  except SystemExit as e:
    code = e.code or 0
  wall = time.perf_counter() - t0
  trace = _SECONDS["jaxpr_trace_duration"]
  lower = _SECONDS["jaxpr_to_mlir_module_duration"]
  xla = _SECONDS["backend_compile_duration"]
  print(
      json.dumps({
          "xla_compile_s": round(xla, 3),
          "trace_s": round(trace, 3),
          "lowering_s": round(lower, 3),
          "total_s": round(xla + trace + lower, 3),
          "executables": len(_COMPILES),
          "cache_hits": _COUNTS["cache_hits"],
          "cache_read_s": round(_SECONDS["cache_retrieval_time_sec"], 3),
          "wall_s": round(wall, 1),
          "slowest": [
              {"s": round(s, 3), "executable": n, "asked_from": where}
              for s, n, where in sorted(_COMPILES, reverse=True)[:12]
          ],
      })
  )
  sys.exit(code)


if __name__ == "__main__":
  main()
