"""The verifiers ``reasoning_jax.verify`` trains, by name: the one table the
verifier stages, the test-time scorers and the reports read.

A verifier that scores steps is used at test time once per step aggregate
(``rewards/aggregate.HOW``) as ``<name>_<how>``; the likelihood verifier
also as ``lmv_steps_<how>`` (its step spans without the answer span). An
outcome verifier is used under its own name.
"""

import os
from typing import NamedTuple

from reasoning_jax.rewards import aggregate


class Verifier(NamedTuple):
  """One trained verifier."""

  kind: str  # "orm" | "prm" (reward heads), "generative", "likelihood".
  labels: str  # step labels it trains on: "exact", "ms" (verifier.ms_label)
  # or "" (gold solutions only).
  per_step: bool  # scores each step (else one outcome score).
  title: str  # how the reports name it ({ms_label}: verifier.ms_label).


VERIFIERS = {
    "orm": Verifier(
        kind="orm", labels="exact", per_step=False, title="ORM (outcome labels)"
    ),
    "prm_exact": Verifier(
        kind="prm", labels="exact", per_step=True, title="PRM, exact labels"
    ),
    "prm_ms": Verifier(
        kind="prm",
        labels="ms",
        per_step=True,
        title="PRM, Math-Shepherd {ms_label} labels",
    ),
    "genver": Verifier(
        kind="generative",
        labels="exact",
        per_step=True,
        title="generative verifier, exact labels",
    ),
    "lmv": Verifier(
        kind="likelihood",
        labels="",
        per_step=True,
        title="likelihood verifier",
    ),
}
HEADS = tuple(n for n, v in VERIFIERS.items() if v.kind in ("orm", "prm"))


def scorer_names() -> tuple[str, ...]:
  """Every name a trained verifier scores under at test time."""
  out = []
  for name, v in VERIFIERS.items():
    if not v.per_step:
      out.append(name)
      continue
    out += [f"{name}_{how}" for how in aggregate.HOW]
    if v.kind == "likelihood":
      out += [f"{name}_steps_{how}" for how in aggregate.HOW]
  return tuple(out)


def params_dir(workdir: str, name: str) -> str:
  """Where ``verify`` saves a head's or the generative verifier's
  parameters (what ``rl.prm_path`` points to for a PRM)."""
  return os.path.join(workdir, f"{name}_params")
