"""End to end: the real config file, metrics, TensorBoard, config errors and
resume after a kill (the resumed run reaches the uninterrupted parameters)."""

import glob
import json
import os
import signal
import struct
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from reasoning_jax import config as config_lib
from reasoning_jax import pipeline
from reasoning_jax.train import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from conftest import default_config


def _cmd(workdir, *overrides):
  return [
      sys.executable,
      "-m",
      "reasoning_jax.main",
      "--config=configs/default.py:smoke",
      f"--workdir={workdir}",
      *overrides,
  ]


from conftest import final_params as _final_params


def _read_tb_scalars(path):
  """Parses a TensorBoard event file (TFRecord framing + Event protos)."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top

  out = {}
  with open(path, "rb") as f:
    data = f.read()
  pos = 0
  while pos < len(data):
    (n,) = struct.unpack("<Q", data[pos : pos + 8])
    ev = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + n])
    pos += 12 + n + 4
    for v in ev.summary.value:
      out.setdefault(v.tag, []).append((ev.step, v.simple_value))
  return out


def test_smoke_run_writes_metrics_summary_and_tensorboard(smoke_run):
  workdir, summary = smoke_run
  rows = metrics.read_metrics(workdir, "sft")
  final = [r for r in rows if "final/pass@1" in r][-1]
  assert final["final/num_problems"] == 16
  assert final["final/pass@1"] == summary["sft"]["pass@1"]
  with open(os.path.join(workdir, "summary.json")) as f:
    assert json.load(f)["sft"]["pass@1"] == summary["sft"]["pass@1"]
  losses = [r["loss"] for r in rows if "loss" in r]
  assert len(losses) == 3 and losses[-1] < losses[0]  # steps 2, 4, 6.
  events = glob.glob(os.path.join(workdir, "tb", "sft", "events.*"))
  tb = _read_tb_scalars(events[0])
  assert [s for s, _ in tb["loss"]] == [2, 4, 6]
  np.testing.assert_allclose([v for _, v in tb["loss"]], losses, rtol=1e-6)
  assert "final/pass_at_1" in tb


def test_rerun_of_a_finished_run_resumes_and_trains_nothing(smoke_run):
  workdir, _ = smoke_run
  step, before = _final_params(workdir)
  pipeline.train_and_evaluate(default_config("smoke"), workdir)
  step2, after = _final_params(workdir)
  assert step2 == step == 6
  for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_killed_run_resumes_to_the_uninterrupted_parameters(
    tmp_path, smoke_run
):
  """SIGKILL a real run after its step-2 checkpoint, rerun the command."""
  ref_dir, _ = smoke_run
  workdir = str(tmp_path / "killed")
  proc = subprocess.Popen(
      _cmd(workdir, "--config.checkpoint.every=2"),
      cwd=ROOT,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL,
  )
  ckpt = os.path.join(workdir, "checkpoints", "sft")
  deadline = time.time() + 240
  while time.time() < deadline and proc.poll() is None:
    if os.path.isdir(ckpt) and any(d.isdigit() for d in os.listdir(ckpt)):
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  steps = [int(d) for d in os.listdir(ckpt) if d.isdigit()]
  assert steps and max(steps) < 6, steps  # killed mid-way.
  done = subprocess.run(
      _cmd(workdir), cwd=ROOT, capture_output=True, text=True, timeout=300
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert f"resumed from step {max(steps)}" in done.stderr
  _, want = _final_params(ref_dir)
  _, got = _final_params(workdir)
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_sigterm_saves_exits_and_resumes_to_the_same_metrics(
    tmp_path, smoke_run
):
  """SIGTERM (a preemption notice) arrives before the first step: the run
  saves the step it is on and exits 143; rerunning the command gives the
  uninterrupted run's metrics and parameters, SFT and RL."""
  ref_dir, _ = smoke_run
  workdir = str(tmp_path / "preempted")
  proc = subprocess.Popen(
      _cmd(workdir),
      cwd=ROOT,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.PIPE,
      text=True,
  )
  tok_dir = os.path.join(workdir, "tokenizer")  # built after the handler.
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None:
    if os.path.isdir(tok_dir) and any(
        f.endswith(".model") for f in os.listdir(tok_dir)
    ):
      break
    time.sleep(0.01)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 143, err[-2000:]
  assert "preempted (SIGTERM): sft saved at step 1;" in err
  assert not os.path.exists(os.path.join(workdir, "summary.json"))

  done = subprocess.run(
      _cmd(workdir), cwd=ROOT, capture_output=True, text=True, timeout=300
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert "sft: resumed from step 1" in done.stderr
  keys = (
      "loss",
      "reward_mean",
      "accuracy",
      "kl",
      "entropy",
      "grad_norm",
      "token_acc",
  )
  for stage in ("sft", "rl_grpo"):
    want = {
        r["step"]: r
        for r in metrics.read_metrics(ref_dir, stage)
        if "loss" in r
    }
    got = {
        r["step"]: r
        for r in metrics.read_metrics(workdir, stage)
        if "loss" in r
    }
    assert sorted(got) == sorted(want) and want, stage
    for step in want:
      for k in keys:
        if k in want[step]:
          assert got[step][k] == pytest.approx(
              want[step][k], rel=1e-5, abs=1e-7
          ), (stage, step, k)
  rl_rows = [
      r for r in metrics.read_metrics(ref_dir, "rl_grpo") if "loss" in r
  ]  # the compared RL updates carry signal.
  assert max(r["adv_std"] for r in rl_rows) > 0.1
  assert max(r["grad_norm"] for r in rl_rows) > 1e-2
  for stage in ("sft", "rl_grpo"):
    _, a = _final_params(ref_dir, stage)
    _, b = _final_params(workdir, stage)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("model.n_kv_heads", 3, "config.model.n_kv_heads=3: must divide"),
        ("model.d_model", -4, "config.model.d_model=-4"),
        ("sft.batch_size", 0, "config.sft.batch_size=0"),
        ("task.name", "chess", "config.task.name='chess': unknown task"),
        ("model.dtype", "int8", "config.model.dtype"),
        ("model.precision", "tf32", "config.model.precision='tf32'"),
        ("model.decode_chunk", 0, "config.model.decode_chunk=0"),
        ("model.decode_scores", "flash", "config.model.decode_scores='flash'"),
        ("verifier.rm_loss", "hinge", "config.verifier.rm_loss='hinge'"),
        ("tts.beam_verifier", "lmv_max", "config.tts.beam_verifier='lmv_max'"),
        (
            "verifier.lm_model.d_model",
            -1,
            "config.verifier.lm_model.d_model=-1",
        ),
        # Values that were accepted and failed late or silently (issue 18.7).
        ("rl.critic_lr", -1e-4, "config.rl.critic_lr=-0.0001"),
        ("rl.top_k", -1, "config.rl.top_k=-1"),
        ("rl.microbatches", 3, "config.rl.microbatches=3: must divide"),
        ("rl.top_k", 10_000, "config.rl.top_k=10000: must be an integer in"),
        ("rl.learning_rate", float("inf"), "config.rl.learning_rate=inf"),
        ("sft.learning_rate", float("nan"), "config.sft.learning_rate=nan"),
        ("rl.temperature", float("inf"), "config.rl.temperature=inf"),
        ("rl.clip_eps", 1.0, "config.rl.clip_eps=1.0: must be in"),
        ("rl.warmup_steps", -5, "config.rl.warmup_steps=-5"),
        ("sft.warmup_steps", -1, "config.sft.warmup_steps=-1"),
        ("rl.b2", 1.5, "config.rl.b2=1.5: must be in"),
        ("sft.b1", -0.1, "config.sft.b1=-0.1"),
        ("rl.weight_decay", -0.01, "config.rl.weight_decay=-0.01"),
        ("rl.value_coef", -0.5, "config.rl.value_coef=-0.5"),
        ("rl.entropy_coef", -0.1, "config.rl.entropy_coef=-0.1"),
        ("sft.max_grad_norm", -1.0, "config.sft.max_grad_norm=-1.0"),
        ("stages", "sft,dance", "unknown stage 'dance'"),
        (
            "tts.mcts_verifier",
            "prm_exact_max",
            "config.tts.mcts_verifier='prm_exact_max': must be one of orm, ",
        ),
        ("tts.tot_k", 0, "config.tts.tot_k=0"),
        ("prompt.chat", "vicuna", "config.prompt.chat='vicuna'"),
        ("task.name", "gsm8k", "config.task.data_dir='': must name the"),
        ("tts.estimate_samples", 999, "must be <= tts.n_max"),
        ("sft.bare_share", 1.5, "config.sft.bare_share=1.5: must be in [0, 1]"),
        ("sft.bare_max_steps", -1, "config.sft.bare_max_steps=-1"),
    ],
)
def test_bad_values_are_named_before_anything_is_built(
    tmp_path, field, value, match
):
  c = default_config("smoke")
  section, _, key = field.rpartition(".")
  (c[section] if section else c)[key] = value
  with pytest.raises(
      config_lib.ConfigError,
      match=match.replace("(", r"\(").replace("[", r"\["),
  ):
    pipeline.train_and_evaluate(c, str(tmp_path))
  assert not os.path.exists(tmp_path / "tokenizer")  # nothing was built.


def test_unknown_fields_are_named(tmp_path):
  c = default_config("smoke")
  c.sft.unlock()
  c.sft.stepz = 3
  with pytest.raises(config_lib.ConfigError, match="config.sft.stepz"):
    config_lib.validate(c)
  r = subprocess.run(
      _cmd(tmp_path, "--config.sft.stepz=3"),
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert r.returncode != 0 and "stepz" in r.stderr


@pytest.mark.parametrize(
    "module,config,override,want",
    [
        (
            "main",
            "default",
            "--config.sft.stepz=3",
            (
                "error: --config.sft.stepz: no such config field (Did you mean"
                ' "steps"'
            ),
        ),
        (
            "compare",
            "default",
            "--config.rl.algorithmz=ppo",
            "error: --config.rl.algorithmz: no such config field",
        ),
        (
            "verify",
            "verifier",
            "--config.verifier.stagez=x",
            "error: --config.verifier.stagez: no such config field",
        ),
        (
            "tts",
            "tts",
            "--config.tts.n_max=abc",
            "error: flag --config.tts.n_max=abc: invalid literal for int()",
        ),
        (
            "bench",
            "bench",
            "--config.model.d_model=-3",
            "error: config.model.d_model=-3",
        ),
        ("main", "nope", "", "error: --config: cannot load it"),
    ],
)
def test_every_entrypoint_reports_a_user_error_in_one_line(
    tmp_path, module, config, override, want
):
  r = subprocess.run(
      [
          sys.executable,
          "-m",
          f"reasoning_jax.{module}",
          f"--config=configs/{config}.py",
          f"--workdir={tmp_path}",
          *([override] if override else []),
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )
  lines = [
      ln for ln in r.stderr.splitlines() if ln.strip() and not ln[:1] in "IW"
  ]  # absl INFO / WARNING.
  assert r.returncode == 1 and len(lines) == 1, r.stderr[-3000:]
  assert lines[0].startswith(want), lines


def test_import_is_cheap():
  r = subprocess.run(
      [
          sys.executable,
          "-c",
          (
              "import sys, reasoning_jax; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('jax', 'flax', 'optax', 'orbax')))"
          ),
      ],
      capture_output=True,
      text=True,
      timeout=60,
  )
  assert r.stdout.strip() == "[]", r.stdout


@pytest.mark.parametrize(
    "name",
    sorted(
        os.path.basename(p)[:-3]
        for p in glob.glob(
            os.path.join(
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                "configs",
                "*.py",
            )
        )
    ),
)
def test_every_config_file_validates(name):
  import importlib.util  # pylint: disable=g-import-not-at-top

  path = os.path.join(ROOT, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"_cfg_{name}", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  c = mod.get_config()
  if c.task.name in ("gsm8k", "math", "jsonl"):
    c.task.data_dir = "/data"  # the one field a dataset run must set.
  config_lib.validate(c)


def test_seeds_run_each_seed_and_aggregate_their_summaries(tmp_path):
  c = default_config("smoke")
  c.stages = "sft"
  agg = pipeline.train_and_evaluate_seeds(c, str(tmp_path), [3, 5])
  per_seed = {}
  for s in (3, 5):
    with open(tmp_path / f"seed_{s}" / "summary.json") as f:
      per_seed[s] = json.load(f)
    with open(tmp_path / f"seed_{s}" / "config.json") as f:
      assert json.load(f)["seed"] == s
  assert agg["seeds"] == [3, 5]
  assert agg["stages"]["sft"]["pass@1"] == [
      per_seed[s]["sft"]["pass@1"] for s in (3, 5)
  ]
  assert agg["stages"]["sft"]["ci95"] == [
      per_seed[s]["sft"]["pass@1_ci95"] for s in (3, 5)
  ]
  losses = [
      [
          r["loss"]
          for r in metrics.read_metrics(str(tmp_path / f"seed_{s}"), "sft")
          if "loss" in r
      ]
      for s in (3, 5)
  ]
  assert losses[0] != losses[1]  # another init and data order.
  with open(tmp_path / "seeds.json") as f:
    assert json.load(f)["seeds"] == [3, 5]
  r = subprocess.run(
      _cmd(tmp_path, "--seeds=0,x"),
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert r.returncode != 0 and "--seeds=0,x: must be integers" in r.stderr


@pytest.mark.parametrize("module", ["main", "compare", "verify", "tts"])
def test_a_malformed_data_file_is_one_line_of_error(tmp_path, module):
  """Every entrypoint reports a bad dataset line as ``error: file:line:
  ...`` and exits non-zero, without a traceback."""
  data = tmp_path / "data"
  data.mkdir()
  good = {"question": "1+1?", "answer": "#### 2"}
  (data / "train.jsonl").write_text(json.dumps(good) + "\n{not json\n")
  (data / "test.jsonl").write_text(json.dumps(good) + "\n")
  cfg = {
      "main": "configs/default.py:smoke",
      "compare": "configs/default.py:smoke",
      "verify": "configs/verifier.py:smoke",
      "tts": "configs/tts.py:smoke",
  }
  r = subprocess.run(
      [
          sys.executable,
          "-m",
          f"reasoning_jax.{module}",
          f"--config={cfg[module]}",
          f"--workdir={tmp_path / 'w'}",
          "--config.task.name=gsm8k",
          f"--config.task.data_dir={data}",
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert r.returncode == 1, r.stderr[-2000:]
  assert "Traceback" not in r.stderr, r.stderr[-3000:]
  assert r.stderr.strip().splitlines()[-1].startswith("error: "), r.stderr[
      -1000:
  ]
  assert "train.jsonl:2: not JSON" in r.stderr.strip().splitlines()[-1]


def test_second_run_on_a_held_workdir_is_one_line_of_error(tmp_path):
  holder = subprocess.Popen(
      [sys.executable, "-c", "import time; time.sleep(60)"]
  )
  try:
    import socket  # pylint: disable=g-import-not-at-top

    (tmp_path / "LOCK").write_text(
        json.dumps({"pid": holder.pid, "host": socket.gethostname()})
    )
    r = subprocess.run(
        _cmd(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
  finally:
    holder.kill()
  assert r.returncode == 1
  assert "Traceback" not in r.stderr, r.stderr[-3000:]
  last = r.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and f"pid {holder.pid}" in last, last
  assert not (tmp_path / "checkpoints").exists()  # nothing was touched.
