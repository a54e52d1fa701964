"""Files written whole or not at all."""

import json
import os

import pytest

from reasoning_jax import files


def test_stage_record_write_is_atomic(tmp_path, monkeypatch):
  """A crash while a stage's record is written leaves the previous record
  (or none), never a truncated one that would break every rerun."""
  path = str(tmp_path / "stages" / "sft.json")
  files.write_json(path, {"pass@1": 0.5})

  def broken(obj, f):
    f.write('{"pass@1": 0.')  # half a record, then the process dies.
    raise KeyboardInterrupt

  monkeypatch.setattr(files.json, "dump", broken)
  with pytest.raises(KeyboardInterrupt):
    files.write_json(path, {"pass@1": 0.9})
  monkeypatch.undo()
  with open(path) as f:
    assert json.load(f) == {"pass@1": 0.5}
  assert os.listdir(tmp_path / "stages") == ["sft.json"]


def test_atomic_write_replaces_the_old_file_only_when_complete(tmp_path):
  path = str(tmp_path / "a" / "x.jsonl")
  files.write_lines(path, ["1", "2"])
  with pytest.raises(ValueError):
    with files.atomic_write(path) as f:
      f.write("3\n")
      raise ValueError("killed")
  assert open(path).read() == "1\n2\n"
  assert os.listdir(tmp_path / "a") == ["x.jsonl"]
