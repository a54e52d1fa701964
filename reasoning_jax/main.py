r"""Entrypoint: ``python -m reasoning_jax.main --config=configs/x.py --workdir=d``.

Overrides: ``--config.sft.steps=100``. Rerunning on the same workdir resumes.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", "configs/default.py",
                                "Path to a configs/*.py file.",
                                lock_config=True)
flags.DEFINE_string("workdir", "runs/default", "Output directory.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from reasoning_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from reasoning_jax import pipeline  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import metrics  # pylint: disable=g-import-not-at-top
  metrics.setup_logging()
  try:
    summary = pipeline.train_and_evaluate(flags.FLAGS.config,
                                          flags.FLAGS.workdir)
  except config_lib.ConfigError as e:
    sys.exit(f"error: {e}")
  print({k: v for k, v in summary.items()})


if __name__ == "__main__":
  app.run(main)
