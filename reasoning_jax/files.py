"""Files written whole or not at all (imports nothing from the package).

Every file a run trusts on a rerun (a finished stage's record, a sampled
data set, the metrics after a resume, a tokenizer model, a downloaded
checkpoint) is written through ``atomic_write``: to a temporary file beside
it, renamed over it when complete. A crash mid-write leaves the old file or
none, never half of one, and a concurrent reader never sees a partial file.
"""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w"):
  """``open(path, mode)`` through ``<path>.tmp.<pid>``, renamed over
  ``path`` when the block ends without error (removed when it raises)."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = f"{path}.tmp.{os.getpid()}"
  try:
    with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
      yield f
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_json(path: str, obj, **dump_kwargs) -> None:
  """``obj`` as JSON at ``path``, atomically (``atomic_write``)."""
  with atomic_write(path) as f:
    json.dump(obj, f, **dump_kwargs)


def write_lines(path: str, lines) -> None:
  """Each of ``lines`` (strings, without their newline) as one line of
  ``path``, atomically (``atomic_write``)."""
  with atomic_write(path) as f:
    for line in lines:
      f.write(line + "\n")
