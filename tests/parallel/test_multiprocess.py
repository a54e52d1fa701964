"""Two real OS processes with ``jax.distributed`` on localhost (gloo CPU
collectives) run the smoke pipeline and log what one process logs alone."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from reasoning_jax.train.metrics import read_metrics


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _cmd(workdir, *extra):
  return [
      sys.executable,
      "-m",
      "reasoning_jax.main",
      "--config=configs/default.py:smoke",
      f"--workdir={workdir}",
      "--config.rl.steps=3",
      *extra,
  ]


def _two_processes(root, env, workdir, *extra, driver=None, timeout=600):
  """Runs the job as two processes; (return codes, (stdout, stderr)s).

  Output goes to files: a process blocked on a full pipe would stall the
  other at its next collective. ``driver``: Python code that runs instead
  of ``-m reasoning_jax.main`` (with the same flags)."""
  port = _free_port()
  procs, files = [], []
  for i in range(2):
    cmd = _cmd(
        workdir,
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        f"--process_id={i}",
        *extra,
    )
    if driver is not None:
      cmd[1:3] = ["-c", driver]
    out, err = (open(f"{workdir}.{i}.{n}", "w+") for n in ("out", "err"))
    files.append((out, err))
    procs.append(
        subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=err, text=True
        )
    )
  try:
    for p in procs:
      p.wait(timeout=timeout)
  finally:
    for p in procs:
      p.kill()
  outs = []
  for out, err in files:
    out.seek(0), err.seek(0)
    outs.append((out.read(), err.read()))
    out.close(), err.close()
  return [p.returncode for p in procs], outs


def test_two_processes_match_one(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
  env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
  single = subprocess.run(
      _cmd(tmp_path / "one"),
      cwd=root,
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert single.returncode == 0, single.stderr[-3000:]

  codes, outs = _two_processes(root, env, tmp_path / "two")
  for code, (_, err) in zip(codes, outs):
    assert code == 0, err[-3000:]
  assert (
      "'rl_grpo'" in outs[0][0] and "'rl_grpo'" not in outs[1][0]
  )  # only process 0.

  one = json.loads((tmp_path / "one" / "summary.json").read_text())
  two = json.loads((tmp_path / "two" / "summary.json").read_text())
  for stage in ("sft", "rl_grpo"):
    assert one[stage]["pass@1"] == two[stage]["pass@1"]
    assert one[stage]["length"] == two[stage]["length"]
  for stage in ("sft", "rl_grpo"):
    a, b = read_metrics(tmp_path / "one", stage), read_metrics(
        tmp_path / "two", stage
    )
    assert [m["step"] for m in a] == [m["step"] for m in b]
    for ma, mb in zip(a, b):
      for k in (
          "loss",
          "reward_mean",
          "accuracy",
          "kl",
          "entropy",
          "grad_norm",
          "length",
      ):
        if k in ma:  # float32 sums in another order across two devices.
          np.testing.assert_allclose(
              mb[k],
              ma[k],
              rtol=2e-4,
              atol=1e-5,
              err_msg=f"{stage} step {ma['step']} {k}",
          )
  # The smoke reward (overlong penalty) has spread: the updates compared
  # above carry signal, not ~1e-5 noise around zero advantages.
  rl_rows = [
      m for m in read_metrics(tmp_path / "one", "rl_grpo") if "loss" in m
  ]
  assert max(m["adv_std"] for m in rl_rows) > 0.1
  assert max(m["grad_norm"] for m in rl_rows) > 1e-2
  # Both processes wrote their shards of the same orbax checkpoints.
  assert sorted(
      os.listdir(tmp_path / "two" / "checkpoints" / "rl_grpo")
  ) == sorted(os.listdir(tmp_path / "one" / "checkpoints" / "rl_grpo"))

  # A rerun skips both finished stages on both processes, and a changed
  # config is refused by both (skipping and training are collective: a
  # process that went another way would leave the other waiting).
  codes, outs = _two_processes(root, env, tmp_path / "two")
  for code, (_, err) in zip(codes, outs):
    assert code == 0, err[-3000:]
    for stage in ("sft", "rl_grpo"):
      assert f"stage {stage} finished earlier: skipped" in err, err[-3000:]
  again = json.loads((tmp_path / "two" / "summary.json").read_text())
  assert again["rl_grpo"]["pass@1"] == two["rl_grpo"]["pass@1"]
  codes, outs = _two_processes(
      root, env, tmp_path / "two", "--config.rl.steps=4"
  )
  for code, (_, err) in zip(codes, outs):
    assert code != 0
    assert "stage rl_grpo of" in err and "rl.steps=3 -> 4" in err, err[-3000:]


_BROADCAST = """
import json, sys
from reasoning_jax.parallel import multihost
multihost.initialize(sys.argv[1], 2, int(sys.argv[2]))
import jax
me = jax.process_index()
# Each process would read its own view (here: its index); all get process
# 0's. Then process 0's read fails: every process raises, none waits.
print(json.dumps(multihost.from_process_0(lambda: {"by": me, "x": [None]})))
def fails():
  raise OSError("stages/sft.json: unreadable")
try:
  multihost.from_process_0(fails)
except (OSError, RuntimeError) as e:
  print(json.dumps(str(e)))
"""


def test_from_process_0_gives_every_process_the_same_value(tmp_path):
  port = _free_port()
  env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
  procs = [
      subprocess.Popen(
          [sys.executable, "-c", _BROADCAST, f"127.0.0.1:{port}", str(i)],
          env=env,
          stdout=subprocess.PIPE,
          stderr=subprocess.PIPE,
          text=True,
      )
      for i in range(2)
  ]
  try:
    outs = [p.communicate(timeout=120) for p in procs]
  finally:
    for p in procs:
      p.kill()
  for i, (p, (out, err)) in enumerate(zip(procs, outs)):
    assert p.returncode == 0, err[-2000:]
    got, error = [json.loads(l) for l in out.strip().splitlines()[-2:]]
    assert got == {"by": 0, "x": [None]}
    assert error == (
        "stages/sft.json: unreadable"
        if i == 0
        else "process 0: OSError: stages/sft.json: unreadable"
    )


# Process 1 keeps its logdir apart, as on a pod whose workdir is a bucket
# (each host's logdir is its own local ``runs/<name>``): only process 0
# sees the stage records it writes.
_OWN_LOGDIR = """
import os, sys
from reasoning_jax.train import context
if "--process_id=1" in sys.argv:
  context.local_dir = lambda w: os.path.join(str(w), "host1")
from reasoning_jax import cli, main
sys.argv[0] = "reasoning_jax.main"
main.define_flags()
cli.run(main.main)
"""


def test_a_rerun_skips_the_same_stages_on_every_process(tmp_path):
  """Only process 0 can read the records; the rerun must not leave process
  1 training a stage that process 0 skips (it would wait forever)."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
  env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
  work = tmp_path / "pod"
  for _ in range(2):  # the first run trains, the rerun skips.
    codes, outs = _two_processes(
        root, env, work, driver=_OWN_LOGDIR, timeout=300
    )
    for code, (_, err) in zip(codes, outs):
      assert code == 0, err[-3000:]
  assert not (work / "host1" / "stages").exists()  # process 1 has no records.
  for _, err in outs:  # the rerun, on both processes:
    for stage in ("sft", "rl_grpo"):
      assert f"stage {stage} finished earlier: skipped" in err, err[-3000:]
