"""AdamW with linear warmup, cosine decay and global-norm clipping."""

import optax


def make_optimizer(
    *,
    learning_rate: float,
    total_steps: int,
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    max_grad_norm: float = 0.0,
    end_lr_ratio: float = 0.1,
    schedule: str = "cosine",
) -> optax.GradientTransformation:
  """lr(t): 0 -> peak over ``warmup_steps``, then cosine to peak*end_lr_ratio.

  ``schedule="constant"`` keeps the peak after warmup. ``max_grad_norm`` <= 0
  disables clipping.
  """
  if schedule == "cosine":
    lr = optax.warmup_cosine_decay_schedule(
        0.0,
        learning_rate,
        warmup_steps,
        max(total_steps, warmup_steps + 1),
        end_value=learning_rate * end_lr_ratio,
    )
  elif schedule == "constant":
    lr = optax.join_schedules(
        [
            optax.linear_schedule(0.0, learning_rate, max(warmup_steps, 1)),
            optax.constant_schedule(learning_rate),
        ],
        [warmup_steps],
    )
  else:
    raise ValueError(f"unknown schedule {schedule!r}")
  chain = (
      [optax.clip_by_global_norm(max_grad_norm)] if max_grad_norm > 0 else []
  )
  chain.append(
      optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  )
  return optax.chain(*chain)


def from_section(
    section,
    *,
    total_steps: int,
    learning_rate: float | None = None,
    warmup_steps: int | None = None,
    schedule: str | None = None,
) -> optax.GradientTransformation:
  """``make_optimizer`` from a config section's AdamW fields
  (``weight_decay``, ``b1``, ``b2``, ``max_grad_norm``; ``learning_rate``,
  ``warmup_steps`` and ``schedule`` unless given)."""
  return make_optimizer(
      learning_rate=(
          section.learning_rate if learning_rate is None else learning_rate
      ),
      total_steps=total_steps,
      warmup_steps=(
          section.warmup_steps if warmup_steps is None else warmup_steps
      ),
      weight_decay=section.weight_decay,
      b1=section.b1,
      b2=section.b2,
      max_grad_norm=section.max_grad_norm,
      schedule=schedule or section.schedule,
  )
