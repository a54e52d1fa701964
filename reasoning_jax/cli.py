"""What the entrypoints (main, compare, verify, tts, bench) share.

``define_flags``: ``--config`` (a ``configs/*.py``, with ``--config.x.y=``
overrides), ``--workdir`` and the multi-process flags. ``run``: flag
parsing, ``jax.distributed`` start-up, console logging, the persistent
compilation cache (``--compilation_cache``), SIGTERM as a
preemption notice (exit 143 after the stage saved), and every expected user
error — a bad flag or config value, a malformed data file, a busy workdir,
a missing or unreadable checkpoint — as one ``error:`` line on stderr and
exit 1, never a traceback."""

import gc
import os
import re
import sys

from absl import app
from absl import flags
import jax
from ml_collections import config_flags

from reasoning_jax import config as config_lib
from reasoning_jax.data.datasets import DataError
from reasoning_jax.parallel import multihost
from reasoning_jax.train import checkpoint
from reasoning_jax.train import context
from reasoning_jax.train import metrics
from reasoning_jax.train import stages
from reasoning_jax.train.checkpoint import CheckpointError


def define_flags(
    config_file: str,
    workdir: str,
    *,
    seeds: bool = False,
    restart_from: bool = False,
    compilation_cache: str = "workdir",
) -> None:
  """The flags every entrypoint has: ``--config`` (default
  ``config_file``), ``--workdir``, ``--compilation_cache`` and the
  multi-process flags (``parallel/multihost.py``); with ``seeds``,
  ``--seeds`` (read by ``seeds_flag``); with ``restart_from``,
  ``--restart_from``. Each entrypoint calls this from its own
  ``define_flags()``, only when run as a program: importing one defines
  no flags."""
  config_flags.DEFINE_config_file(
      "config", config_file, "Path to a configs/*.py file.", lock_config=True
  )
  flags.DEFINE_string("workdir", workdir, "Output directory.")
  flags.DEFINE_string(
      "compilation_cache",
      compilation_cache,
      "Persistent XLA compilation cache: 'workdir' (<workdir>/jax_cache; a "
      "rerun or resumed run of the same config skips compiling), a "
      "directory, or 'off'.",
  )
  if seeds:
    flags.DEFINE_list(
        "seeds",
        [],
        "Run once per seed (config.seed), e.g. 0,1,2; "
        "empty: one run with config.seed.",
    )
  if restart_from:
    flags.DEFINE_string(
        "restart_from",
        "",
        "Retrain this stage (e.g. sft, rl_grpo) and every later one: a "
        "finished stage whose config changed is refused without it.",
    )
  multihost.define_flags()


def seeds_flag() -> list[int]:
  """``--seeds`` as integers; anything else exits with one line."""
  try:
    return [int(x) for x in flags.FLAGS.seeds]
  except ValueError:
    sys.exit(f"error: --seeds={','.join(flags.FLAGS.seeds)}: must be integers")


def enable_compilation_cache(where: str, workdir: str) -> str:
  """Points JAX's persistent compilation cache at ``where`` ('workdir':
  ``<workdir>/jax_cache``, local for a remote workdir; 'off': none) and
  caches every executable, however quick its compile. Returns the path."""
  if where == "off":
    return ""
  path = (
      os.path.join(context.local_dir(workdir), "jax_cache")
      if where == "workdir"
      else where
  )
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path


def user_errors() -> tuple[type[Exception], ...]:
  """The exception types whose message is the whole story for a user."""
  return (
      config_lib.ConfigError,
      DataError,
      stages.WorkdirBusy,
      CheckpointError,
      FileNotFoundError,
  )


def parse_flags(argv: list[str]) -> list[str]:
  """``flags.FLAGS(argv)``; a flag or ``--config.x.y=`` override it cannot
  take (an unknown field, a value of the wrong type, a config file that
  does not load) exits with one line naming it."""
  try:
    rest = flags.FLAGS(argv)
    if "config" in flags.FLAGS:  # a config file that failed to load raises
      _ = flags.FLAGS.config.keys  # on first use, not in the parse above.
    return rest
  except Exception as e:  # pylint: disable=broad-except
    sys.exit(f"error: {_flag_message(e, argv)}")


def _flag_message(e: Exception, argv: list[str]) -> str:
  text = str(e).strip()
  if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
    text = text[1:-1].replace("\\'", "'").replace("\\n", "\n")
  lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
  if "Failed loading config file" in text and lines:
    return f"--config: cannot load it ({lines[-1]})"
  if any(ln.startswith("Traceback") for ln in lines):  # a config file's error.
    last = [ln for ln in lines if re.match(r"^\w+(Error|Exception): ", ln)]
    return f"{lines[0].split(':')[0]}: {last[-1] if last else lines[-1]}"
  field = re.match(r"^'?([A-Za-z_][\w]*)'?$", lines[0]) if lines else None
  if isinstance(e, (AttributeError, KeyError)) and field:
    name = field.group(1)
    used = [
        a.split("=", 1)[0]
        for a in argv[1:]
        if re.search(rf"[.]{re.escape(name)}(=|$)", a.split("=", 1)[0])
    ]
    hint = next((ln for ln in lines[1:] if ln.startswith("Did you mean")), "")
    return f"{used[0] if used else name}: no such config field" + (
        f" ({hint})" if hint else ""
    )
  return " ".join(lines)[:500] or type(e).__name__


def run(main) -> None:
  """``app.run(main)`` with ``parse_flags``; before ``main(argv)``: the
  multi-process start-up, logging and the SIGTERM handler; ``user_errors``
  from it printed as one line (exit 1), a preemption exits 143.

  The objects alive once everything is imported (JAX, Flax, TensorFlow's
  protos: millions) are moved out of the garbage collector's reach
  (``gc.freeze``): tracing allocates fast enough to trigger full
  collections, and each would walk them all again (BENCHMARKS.md,
  compile time).
  """

  def guarded(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    multihost.initialize_from_flags()
    metrics.setup_logging()
    enable_compilation_cache(flags.FLAGS.compilation_cache, flags.FLAGS.workdir)
    checkpoint.install_sigterm_handler()
    gc.freeze()
    try:
      return main(argv)
    except user_errors() as e:
      sys.exit(f"error: {e}")
    except checkpoint.Preempted as e:
      print(e, file=sys.stderr)
      sys.exit(143)

  app.run(guarded, flags_parser=parse_flags)
