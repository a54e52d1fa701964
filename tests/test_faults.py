"""Faults injected into real runs (issue 18), each against the uninterrupted
run (``smoke_run``: SFT then GRPO with reward spread) or one line of error:

- kill -9 at five random points of SFT and RL: after a metrics row that is
  ahead of its checkpoint, in the middle of a checkpoint write, after a
  stage's final row; the resumed run ends with the same parameters and a
  metrics file that has every step once;
- a corrupt newest checkpoint (emptied ``_METADATA``, truncated data file)
  of a finished stage: the run falls back to the newest intact step;
- a changed config on rerun: refused naming the fields, or retrained with
  ``restart_from``;
- a dataset the tokenizer cannot encode, or with too few records, or a
  prompt longer than ``max_prompt_len``: refused before anything compiles.
"""

import json
import logging
import os
import shutil
import subprocess
import sys

from conftest import default_config
from conftest import final_params
import jax
import numpy as np
import pytest

from reasoning_jax import config as config_lib
from reasoning_jax import pipeline
from reasoning_jax.data import datasets
from reasoning_jax.data import tasks
from reasoning_jax.train import checkpoint
from reasoning_jax.train import context
from reasoning_jax.train import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Kill points in the order a smoke run reaches them (checkpoint.every=2;
# an RL step is 4 optimizer steps, and RL checkpoints count those).
POINTS = [
    "sft:2:metrics",
    "sft:2:write",
    "sft:4:metrics",
    "sft:4:write",
    "sft:6:write",
    "sft:0:final",
    "rl_grpo:1:metrics",
    "rl_grpo:2:metrics",
    "rl_grpo:8:write",
    "rl_grpo:3:metrics",
    "rl_grpo:16:write",
    "rl_grpo:0:final",
]
TRAIN_KEYS = (
    "loss",
    "grad_norm",
    "token_acc",
    "reward_mean",
    "accuracy",
    "kl",
    "adv_std",
    "length",
)


def _run(workdir, fault="", *overrides):
  env = dict(os.environ, FAULT=fault)
  return subprocess.run(
      [
          sys.executable,
          "tests/fault_worker.py",
          "--config=configs/default.py:smoke",
          f"--workdir={workdir}",
          *overrides,
      ],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )


def _assert_same_as(workdir, ref):
  """Same final parameters as ``ref`` and a metrics file with each step's
  row once, equal to ``ref``'s."""
  for stage in ("sft", "rl_grpo"):
    _, want = final_params(ref, stage)
    _, got = final_params(workdir, stage)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    rows, ref_rows = (metrics.read_metrics(d, stage) for d in (workdir, ref))
    for kind in ("loss", "eval/pass@1", "final/pass@1"):
      got_steps = [r["step"] for r in rows if kind in r]
      want_steps = [r["step"] for r in ref_rows if kind in r]
      assert got_steps == want_steps, (stage, kind, got_steps, want_steps)
    for r, w in zip(
        (r for r in rows if "loss" in r), (w for w in ref_rows if "loss" in w)
    ):
      for k in TRAIN_KEYS:
        if k in w:
          assert r[k] == pytest.approx(w[k], rel=1e-5, abs=1e-7), (stage, k)
  rl = [r for r in metrics.read_metrics(ref, "rl_grpo") if "loss" in r]
  assert max(r["adv_std"] for r in rl) > 0.1  # the updates carry signal.
  assert max(r["grad_norm"] for r in rl) > 1e-2


def test_kill_9_at_five_random_points_of_sft_and_rl(tmp_path, smoke_run):
  ref, _ = smoke_run
  rng = np.random.default_rng(18)
  while True:  # five points, covering both stages and a mid-write kill.
    chosen = [
        POINTS[i] for i in sorted(rng.choice(len(POINTS), 5, replace=False))
    ]
    if (
        any(p.startswith("sft") for p in chosen)
        and any(p.startswith("rl") for p in chosen)
        and any(p.endswith("write") for p in chosen)
    ):
      break
  workdir = str(tmp_path / "run")
  for point in chosen:
    r = _run(workdir, point)
    assert r.returncode == -9, (point, r.stderr[-2000:])
    assert f"SIGKILL at {point}" in r.stderr
  r = _run(workdir)
  assert r.returncode == 0, r.stderr[-2000:]
  _assert_same_as(workdir, ref)
  # The reruns compiled from the workdir's persistent cache (the reference
  # ran without one) and still ended equal.
  assert len(os.listdir(os.path.join(workdir, "jax_cache"))) > 10


def test_kill_9_mid_checkpoint_write_in_rl(tmp_path, smoke_run):
  """The process dies while RL's step-16 checkpoint is being written: the
  step is left incomplete, and the rerun resumes from step 8."""
  ref, _ = smoke_run
  workdir = str(tmp_path / "run")
  r = _run(workdir, "rl_grpo:16:write")
  assert r.returncode == -9, r.stderr[-2000:]
  ckpt = os.path.join(workdir, "checkpoints", "rl_grpo")
  assert "16" not in os.listdir(ckpt), os.listdir(ckpt)  # never committed.
  assert [
      r["step"] for r in metrics.read_metrics(workdir, "rl_grpo") if "loss" in r
  ] == [
      1,
      2,
      3,
      4,
  ]  # rows ahead of the checkpoint.
  r = _run(workdir)
  assert r.returncode == 0, r.stderr[-2000:]
  assert "rl_grpo: resumed from step 8" in r.stderr
  _assert_same_as(workdir, ref)


def _corrupt(step_dir, how):
  files = [os.path.join(d, f) for d, _, fs in os.walk(step_dir) for f in fs]
  if how == "metadata":
    targets = [f for f in files if os.path.basename(f) == "_METADATA"]
    for f in targets:
      open(f, "w").close()
  else:  # the largest data file, cut in half.
    f = max(
        (f for f in files if f"{os.sep}d{os.sep}" in f), key=os.path.getsize
    )
    with open(f, "r+b") as fh:
      fh.truncate(os.path.getsize(f) // 2)


@pytest.mark.parametrize("how", ["metadata", "data"])
def test_corrupt_newest_checkpoint_falls_back_to_the_intact_one(
    tmp_path, smoke_run, how, caplog
):
  ref, _ = smoke_run
  workdir = str(tmp_path / "run")
  shutil.copytree(ref, workdir)
  os.remove(os.path.join(workdir, "LOCK")) if os.path.exists(
      os.path.join(workdir, "LOCK")
  ) else None
  _corrupt(os.path.join(workdir, "checkpoints", "sft", "6"), how)
  with pytest.raises(
      checkpoint.CheckpointError, match=r"sft/6 is unreadable \("
  ) as e:
    checkpoint.load_params(workdir, "sft")
  assert "\n" not in str(e.value)
  with caplog.at_level(logging.WARNING):
    pipeline.train_and_evaluate(default_config("smoke"), workdir)
  text = caplog.text
  assert "stage sft finished but" in text and "sft/6 is unreadable" in text
  assert os.listdir(os.path.join(workdir, "checkpoints", "sft.corrupt"))
  _assert_same_as(workdir, ref)


def test_changed_config_is_refused_or_retrained_with_restart_from(
    tmp_path, smoke_run
):
  ref, _ = smoke_run
  workdir = str(tmp_path / "run")
  shutil.copytree(ref, workdir)
  with open(os.path.join(workdir, "config.json")) as f:
    before = f.read()
  c = default_config("smoke")
  c.sft.steps, c.rl.kl_beta = 8, 0.1
  with pytest.raises(
      config_lib.ConfigError,
      match=r"stage sft of .* finished with another config "
      r"\(sft.steps=6 -> 8\): rerun with --restart_from=sft",
  ):
    pipeline.train_and_evaluate(c, workdir)
  with open(os.path.join(workdir, "config.json")) as f:
    assert f.read() == before  # still what produced the checkpoints.
  # A field that does not define a stage (evaluation) is no reason.
  c2 = default_config("smoke")
  c2.eval.periodic_problems = 8
  pipeline.train_and_evaluate(c2, workdir)
  # restart_from retrains sft and everything after it.
  pipeline.train_and_evaluate(c, workdir, restart_from="sft")
  assert final_params(workdir, "sft")[0] == 8
  assert [
      r["step"] for r in metrics.read_metrics(workdir, "sft") if "loss" in r
  ] == [2, 4, 6, 8]
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  assert (saved["sft"]["steps"], saved["rl"]["kl_beta"]) == (8, 0.1)
  with pytest.raises(
      config_lib.ConfigError,
      match="--restart_from=rl: not a stage of this run \\(sft, rl_grpo\\)",
  ):
    pipeline.train_and_evaluate(c, workdir, restart_from="rl")


def _dataset(tmp_path, n_train, n_test, extra=""):
  """A jsonl dataset from arith problems (text the default tokenizer
  knows), ``extra`` appended to the first question."""
  arith = tasks.get_task("arith", seed=0)
  d = tmp_path / "data"
  d.mkdir(exist_ok=True)
  for split, n in (("train", n_train), ("test", n_test)):
    with open(d / f"{split}.jsonl", "w", encoding="utf-8") as f:
      for i in range(n):
        ex = arith.example(split, i)
        q = ex.prompt + (extra if i == 0 else "")
        f.write(json.dumps({"question": q, "answer": ex.answer}) + "\n")
  c = default_config("smoke")
  c.task.update(name="jsonl", data_dir=str(d))
  c.tokenizer.cache_dir = str(tmp_path / "tok")
  return c


def test_text_the_tokenizer_cannot_encode_is_refused(tmp_path):
  # 'f' is not in arith/countdown text either: the built-in tokenizer
  # (tokenizer.tasks) has no piece for it.
  c = _dataset(tmp_path, 90, 4, extra=" Café crème ☕" * 20)
  with pytest.raises(
      datasets.DataError,
      match=r"task jsonl: 4 distinct characters \(3\.\d% of "
      r"the text\) encode to the tokenizer's unknown piece "
      r"\('f', 'é', 'è', '☕'\): set tokenizer.path",
  ):
    context.build_context(c, str(tmp_path / "w"))
  tok = context.build_context(
      _dataset(tmp_path, 90, 4), str(tmp_path / "w")
  ).tok
  unknown, total = context.unknown_characters(tok, ["12é", "éé☕+<think>"])
  assert unknown == {"é": 3, "☕": 1} and total == 14


def test_records_are_never_reused_and_eval_uses_what_the_file_has(
    tmp_path, caplog
):
  # 64 cold-start records, then RL's 4 steps x 4 prompts need [64, 80).
  c = _dataset(tmp_path, 70, 1)
  with pytest.raises(
      config_lib.ConfigError,
      match=r"stage rl needs train records \[0, 80\) .* the "
      r"train file has 70",
  ):
    context.build_context(c, str(tmp_path / "w"))
  c = _dataset(tmp_path, 80, 1)
  with caplog.at_level(logging.WARNING):
    ctx = context.build_context(c, str(tmp_path / "w"))
  assert "eval.num_problems=16 but the test file has 1 records" in caplog.text
  assert len(ctx.test_set) == 1
  with pytest.raises(datasets.DataError, match="test record 1 requested"):
    ctx.task.example("test", 1)


def test_a_prompt_longer_than_max_prompt_len_is_named(tmp_path):
  c = _dataset(tmp_path, 90, 4)
  c.data.max_prompt_len = 8
  with pytest.raises(
      config_lib.ConfigError,
      match=r"config.data.max_prompt_len=8: the longest "
      r"prompt \((train|test) record \d+\) has \d+ tokens",
  ):
    context.build_context(c, str(tmp_path / "w"))
