r"""Entrypoint: ``python -m reasoning_jax.main --config=configs/x.py --workdir=d``.

Overrides: ``--config.sft.steps=100``. Rerunning on the same workdir resumes;
a finished stage whose defining fields changed is refused (naming them)
unless ``--restart_from=<stage>`` retrains it and the stages after it.
``--seeds=0,1,2`` runs the job once per seed (``<workdir>/seed_<s>``) and
writes ``seeds.md`` / ``seeds.json`` / ``seeds.png``: each seed's held-out
pass@1 and paired gains with 95% intervals, their mean and spread.

Multi-process: on a multi-host TPU slice ``jax.distributed`` is initialised
automatically; elsewhere (e.g. several processes on one machine) pass
``--coordinator_address=host:port --num_processes=N --process_id=i`` to
every process. Only process 0 writes logs and reports.
"""

from absl import flags
import jax

from reasoning_jax import cli
from reasoning_jax import pipeline
from reasoning_jax.experiments import seeds_report


def define_flags() -> None:
  cli.define_flags(
      "configs/default.py", "runs/default", seeds=True, restart_from=True
  )


def main(argv):
  del argv  # cli.run refuses extra arguments.
  f = flags.FLAGS
  seeds = cli.seeds_flag()
  if seeds:
    summary = pipeline.train_and_evaluate_seeds(
        f.config, f.workdir, seeds, f.restart_from
    )
  else:
    summary = pipeline.train_and_evaluate(f.config, f.workdir, f.restart_from)
  if jax.process_index() == 0 and seeds:
    print(seeds_report.seeds_markdown(summary))
  elif jax.process_index() == 0:
    print({k: v for k, v in summary.items()})


if __name__ == "__main__":
  define_flags()
  cli.run(main)
