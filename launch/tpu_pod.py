r"""Runs any config on a Cloud TPU pod slice: plain multi-controller JAX.

The same program runs on every worker (no Pathways or other controller
service); each process calls ``jax.distributed.initialize()``, which
auto-detects the slice, and ``reasoning_jax.main`` then works on its share of
the data. One command does it all:

  python launch/tpu_pod.py --name=rj --zone=us-central2-b \
      --accelerator_type=v4-32 --config=configs/default.py \
      --workdir=gs://my-bucket/runs/rj -- --config.rl.algorithm=ppo

Steps: create the slice (or reuse it when it exists), copy this checkout
(``git archive HEAD``) to every worker, install it in a venv with
``jax[tpu]``, start the entrypoint with the same flags on all workers, stream
worker 0's log until the job ends, and delete the slice with ``--teardown``.
``--dry_run`` prints every command instead of running it. Only the standard
library is used here, so it runs on any laptop with ``gcloud``.

On a pod slice the workdir must be shared by all workers (a ``gs://``
bucket): every process writes its shards of each orbax checkpoint there.
"""

import argparse
import dataclasses
import shlex
import subprocess
import sys

# Hosts (workers) per slice for common accelerator types. v2/v3/v4 names
# count TensorCores (2 per chip, 4 chips per host); v5e/v6e count chips.
HOSTS = {
    "v4-8": 1,
    "v4-16": 2,
    "v4-32": 4,
    "v4-64": 8,
    "v4-128": 16,
    "v5litepod-1": 1,
    "v5litepod-4": 1,
    "v5litepod-8": 1,
    "v5litepod-16": 4,
    "v5litepod-32": 8,
    "v5litepod-64": 16,
    "v5p-8": 1,
    "v5p-16": 2,
    "v5p-32": 4,
    "v5p-64": 8,
    "v6e-1": 1,
    "v6e-4": 1,
    "v6e-8": 1,
    "v6e-16": 4,
    "v6e-32": 8,
    "v3-8": 1,
    "v3-32": 4,
    "v2-8": 1,
    "v2-32": 4,
}
ALIASES = {"v5e-" + k.split("-")[1]: k for k in HOSTS if k.startswith("v5lite")}
REMOTE_DIR = "reasoning_jax"
TARBALL = "reasoning_jax.tar.gz"


@dataclasses.dataclass(frozen=True)
class Step:
  """One command of the plan: what it is for, and its argv."""

  what: str
  argv: tuple[str, ...]
  may_fail: bool = False  # ``describe`` of a slice that does not exist yet.

  def shell(self) -> str:
    return " ".join(shlex.quote(a) for a in self.argv)


def parse_args(argv):
  p = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument("--name", required=True, help="TPU VM (slice) name.")
  p.add_argument("--zone", required=True)
  p.add_argument("--project", default="", help="gcloud project (optional).")
  p.add_argument(
      "--accelerator_type",
      default="v4-32",
      help=f"e.g. {', '.join(sorted(HOSTS)[:6])}, v5e-16 ...",
  )
  p.add_argument(
      "--version",
      default="tpu-ubuntu2204-base",
      help="TPU software (runtime) version.",
  )
  p.add_argument("--spot", action="store_true", help="Spot (preemptible).")
  p.add_argument("--config", default="configs/default.py")
  p.add_argument(
      "--workdir",
      required=True,
      help="Shared by all workers: use a gs:// path on a pod.",
  )
  p.add_argument(
      "--teardown",
      action="store_true",
      help="Delete the slice after the job ends.",
  )
  p.add_argument(
      "--dry_run",
      action="store_true",
      help="Print the commands instead of running them.",
  )
  p.add_argument(
      "overrides",
      nargs="*",
      help=(
          "After --: passed to reasoning_jax.main on every worker, "
          "e.g. --config.rl.steps=500."
      ),
  )
  args = p.parse_args(argv)
  args.accelerator_type = ALIASES.get(
      args.accelerator_type, args.accelerator_type
  )
  for o in args.overrides:
    if not o.startswith("--config."):
      p.error(
          f"override {o!r}: only --config.x.y=value overrides may follow --"
      )
  return args


def plan(args) -> list[Step]:
  """Every command, in order, for ``args`` (see ``parse_args``)."""
  tpu = ["gcloud", "compute", "tpus", "tpu-vm"]
  where = [f"--zone={args.zone}"] + (
      [f"--project={args.project}"] if args.project else []
  )

  def ssh(worker: str, command: str) -> list[str]:
    return [
        *tpu,
        "ssh",
        args.name,
        *where,
        f"--worker={worker}",
        f"--command={command}",
    ]

  run = " ".join(
      shlex.quote(a)
      for a in (
          ".venv/bin/python",
          "-m",
          "reasoning_jax.main",
          f"--config={args.config}",
          f"--workdir={args.workdir}",
          *args.overrides,
      )
  )
  install = (
      f"rm -rf ~/{REMOTE_DIR} && mkdir -p ~/{REMOTE_DIR} && "
      f"tar xzf ~/{TARBALL} -C ~/{REMOTE_DIR} && cd ~/{REMOTE_DIR} && "
      "python3 -m venv .venv && .venv/bin/pip install -q -U pip && "
      ".venv/bin/pip install -q -e . 'jax[tpu]'"
  )
  start = (
      f"cd ~/{REMOTE_DIR} && pkill -f reasoning_jax.main; "
      f"nohup {run} > run.log 2>&1 < /dev/null &"
  )
  stream = (
      f"cd ~/{REMOTE_DIR} && sleep 5 && "
      "tail -n +1 --pid=$(pgrep -f -o reasoning_jax.main || echo 1) "
      "-F run.log"
  )
  create = [
      *tpu,
      "create",
      args.name,
      *where,
      f"--accelerator-type={args.accelerator_type}",
      f"--version={args.version}",
  ] + (["--spot"] if args.spot else [])
  local_tar = f"/tmp/{args.name}-{TARBALL}"
  steps = [
      Step(
          "reuse the slice if it exists",
          (*tpu, "describe", args.name, *where, "--format=value(state)"),
          may_fail=True,
      ),
      Step("create the slice (only when describe failed)", tuple(create)),
      Step(
          "pack this checkout",
          (
              "git",
              "archive",
              "--format=tar.gz",
              f"--output={local_tar}",
              "HEAD",
          ),
      ),
      Step(
          "copy it to every worker",
          (
              *tpu,
              "scp",
              local_tar,
              f"{args.name}:~/{TARBALL}",
              *where,
              "--worker=all",
          ),
      ),
      Step("install on every worker", tuple(ssh("all", install))),
      Step("start the same program on every worker", tuple(ssh("all", start))),
      Step("stream worker 0's log until the job ends", tuple(ssh("0", stream))),
  ]
  if args.teardown:
    steps.append(
        Step("delete the slice", (*tpu, "delete", args.name, *where, "--quiet"))
    )
  return steps


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  args = parse_args(argv)
  hosts = HOSTS.get(args.accelerator_type)
  print(
      f"# {args.accelerator_type}: "
      f"{hosts if hosts else 'unknown number of'} worker(s), one JAX "
      "process each",
      flush=True,
  )
  exists = False
  for step in plan(args):
    if step.what.startswith("create") and exists:
      print(f"# skip: {step.what} (it exists)", flush=True)
      continue
    print(f"# {step.what}\n{step.shell()}", flush=True)
    if args.dry_run:
      continue
    r = subprocess.run(step.argv, check=False)
    if step.may_fail:
      exists = r.returncode == 0
    elif r.returncode:
      print(
          f"error: step '{step.what}' exited with {r.returncode}",
          file=sys.stderr,
      )
      return r.returncode
  return 0


if __name__ == "__main__":
  sys.exit(main())
