"""``launch/tpu_pod.py --dry_run`` prints a complete, ordered command plan;
``launch/compile_time.py`` measures a run's compiles and the cache."""

import json
import os
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(ROOT, "launch", "tpu_pod.py")


def _dry_run(*args):
  r = subprocess.run(
      [sys.executable, LAUNCH, "--dry_run", *args],
      capture_output=True,
      text=True,
      timeout=60,
      check=False,
  )
  return r


def _commands(stdout):
  return [
      shlex.split(line)
      for line in stdout.splitlines()
      if line and not line.startswith("#")
  ]


@pytest.mark.parametrize("accel,hosts", [("v4-32", 4), ("v5e-16", 4)])
def test_dry_run_prints_the_whole_plan(accel, hosts):
  r = _dry_run(
      "--name=rj",
      "--zone=us-central2-b",
      f"--accelerator_type={accel}",
      "--workdir=gs://bucket/runs/rj",
      "--config=configs/default.py",
      "--spot",
      "--teardown",
      "--",
      "--config.rl.steps=500",
      "--config.mesh.fsdp=4",
  )
  assert r.returncode == 0, r.stderr
  assert f"{hosts} worker(s)" in r.stdout.splitlines()[0]
  cmds = _commands(r.stdout)
  tpu = ["gcloud", "compute", "tpus", "tpu-vm"]
  verbs = [c[4] if c[:4] == tpu else c[0] for c in cmds]
  assert verbs == [
      "describe",
      "create",
      "git",
      "scp",
      "ssh",
      "ssh",
      "ssh",
      "delete",
  ]
  for c in cmds:
    if c[:4] == tpu:
      assert c[5] == "rj" or c[4] == "scp"
      assert "--zone=us-central2-b" in c
  create = cmds[1]
  want = "v5litepod-16" if accel == "v5e-16" else accel
  assert f"--accelerator-type={want}" in create and "--spot" in create
  assert any(a.startswith("--version=") for a in create)
  scp = cmds[3]
  assert "--worker=all" in scp and scp[5] == cmds[2][3].split("=", 1)[1]
  install, start, stream = cmds[4], cmds[5], cmds[6]
  assert "--worker=all" in install and "--worker=all" in start
  assert "jax[tpu]" in install[-1] and "pip install" in install[-1]
  run = start[-1].split("nohup ", 1)[1].split(" > ")[0]
  assert shlex.split(run) == [
      ".venv/bin/python",
      "-m",
      "reasoning_jax.main",
      "--config=configs/default.py",
      "--workdir=gs://bucket/runs/rj",
      "--config.rl.steps=500",
      "--config.mesh.fsdp=4",
  ]
  assert "--worker=0" in stream and "run.log" in stream[-1]
  assert cmds[7][-1] == "--quiet"


def test_without_teardown_the_slice_stays():
  r = _dry_run("--name=rj", "--zone=z", "--workdir=gs://b/r")
  assert r.returncode == 0
  assert not any("delete" in c for c in _commands(r.stdout))


def test_bad_override_is_refused():
  r = _dry_run("--name=rj", "--zone=z", "--workdir=gs://b/r", "--", "--steps=3")
  assert r.returncode == 2 and "only --config.x.y=value" in r.stderr


def test_a_rerun_reads_every_executable_from_the_compilation_cache(tmp_path):
  """``launch/compile_time.py`` on the smoke job, twice in one workdir: the
  first run compiles (the persistent cache is on by default), the rerun of
  every stage (``--restart_from=sft``) compiles nothing."""

  def run(*extra):
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "launch", "compile_time.py"),
            "--config=" + os.path.join(ROOT, "configs", "default.py:smoke"),
            f"--workdir={tmp_path / 'run'}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])

  first, again = run(), run("--restart_from=sft")
  assert first["executables"] >= 20  # init, SFT, RL, samplers, ...
  assert first["cache_hits"] < first["executables"] / 2
  assert again["executables"] == first["executables"]
  assert again["cache_hits"] == again["executables"]
  assert again["xla_compile_s"] < first["xla_compile_s"] / 4
  slowest = {s["executable"] for s in first["slowest"]}
  assert {"jit(sft_step)", "jit(rl_step)"} <= slowest
