"""Config checks shared by the sections: each names the offending field."""

import math

import ml_collections


class ConfigError(ValueError):
  """A config value is invalid; the message names the field."""


def check(ok: bool, field: str, msg: str, value):
  if not ok:
    raise ConfigError(f"config.{field}={value!r}: {msg}")


def finite(x) -> bool:
  return isinstance(x, (int, float)) and math.isfinite(x)


def optimizer(section, name: str, lrs=("learning_rate",)) -> None:
  """AdamW fields: finite learning rates > 0, warmup >= 0, moments in
  [0, 1), weight decay and clipping norm >= 0 (a b2 > 1 gives NaN updates
  that the non-finite guard would then skip at every step)."""
  for f in lrs:
    check(
        finite(section[f]) and section[f] > 0,
        f"{name}.{f}",
        "must be a finite number > 0",
        section[f],
    )
  check(
      isinstance(section.warmup_steps, int) and section.warmup_steps >= 0,
      f"{name}.warmup_steps",
      "must be an integer >= 0",
      section.warmup_steps,
  )
  for f in ("b1", "b2"):
    check(
        finite(section[f]) and 0 <= section[f] < 1,
        f"{name}.{f}",
        "must be in [0, 1)",
        section[f],
    )
  for f in ("weight_decay", "max_grad_norm"):
    check(
        finite(section[f]) and section[f] >= 0,
        f"{name}.{f}",
        "must be a finite number >= 0",
        section[f],
    )


def one_of(section, name: str, field: str, names) -> None:
  """``config.<name>.<field>`` is one of ``names`` (the code's own table of
  accepted values, so the message lists exactly what works)."""
  check(
      section[field] in names,
      f"{name}.{field}",
      f"must be one of {', '.join(names)}",
      section[field],
  )


def positive_ints(section, name: str, fields) -> None:
  """Each of ``fields`` of ``config.<name>`` is a positive integer."""
  for f in fields:
    check(
        isinstance(section[f], int) and section[f] > 0,
        f"{name}.{f}",
        "must be a positive integer",
        section[f],
    )


def check_fields(config, schema, prefix=""):
  for key in config.keys():
    if key not in schema:
      raise ConfigError(
          f"config.{prefix}{key}: unknown field (known: "
          f"{sorted(schema.keys())})"
      )
    if isinstance(schema[key], ml_collections.ConfigDict):
      check_fields(config[key], schema[key], f"{prefix}{key}.")
