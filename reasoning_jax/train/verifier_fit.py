"""Training the verifiers: an ORM / PRM head on the policy's backbone
(``train_reward_model``), and ``fit``, the loop every verifier trains with.

``fit`` minimises a pure ``loss_fn(params, batch)`` with AdamW, the
non-finite guard, held-out loss every 50 steps, orbax checkpoints that
resume, and SIGTERM handling, like the SFT and RL stages.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from reasoning_jax.train import loop
from reasoning_jax.train import optim
from reasoning_jax.train import state as state_lib
from reasoning_jax.verifiers import reward_model as rm_lib


def _orm_terms(z_bt, batch):
  """The ORM's BCE on the last token's logit; that logit as the outcome."""
  out = rm_lib.orm_loss(z_bt, batch["last"], batch["correct"])
  return out, jnp.take_along_axis(z_bt, batch["last"][:, None], axis=1)[:, 0]


def _prm_terms(z_bt, batch):
  """The PRM's BCE per step; the ``soft_min`` over its steps as the
  outcome logit."""
  out = rm_lib.prm_loss(
      z_bt, batch["step_pos"], batch["step_valid"], batch["labels"]
  )
  outcome = rm_lib.soft_min(
      rm_lib.gather_steps(z_bt, batch["step_pos"], batch["step_valid"]),
      batch["step_valid"],
  )
  return out, outcome


# Verifier kind -> (pointwise loss, outcome logit [B]) of token logits [B, T].
POINTWISE = {"orm": _orm_terms, "prm": _prm_terms}

# ``verifier.rm_loss`` -> the objective from the pointwise loss and outcome:
# ``bce`` alone, or plus the within-problem Bradley-Terry ``pairwise_loss``.
OBJECTIVES = {
    "bce": lambda out, outcome, batch: out,
    "bce+pairwise": (
        lambda out, outcome, batch: out
        + rm_lib.pairwise_loss(outcome, batch["correct"], batch["group"])
    ),
}


def reward_loss(rm, kind, loss, params, batch):
  """``OBJECTIVES[loss]`` of the ``POINTWISE[kind]`` terms of ``rm``'s
  token logits on ``batch``."""
  z = rm_lib.token_scores(rm, params, batch["ids"], batch["valid"])
  out, outcome = POINTWISE[kind](z, batch)
  return OBJECTIVES[loss](out, outcome, batch)


def _arrays(sb, group):
  keys = ("ids", "valid", "step_pos", "step_valid", "labels", "last", "correct")
  return {
      **{k: getattr(sb, k) for k in keys},
      "group": np.asarray(group, np.int32),
  }


def train_reward_model(
    ctx,
    policy_params,
    kind: str,
    train_set,
    eval_set,
    *,
    name: str,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
    loss: str = "bce",
    train_groups=None,
    eval_groups=None,
):
  """Trains an ORM (``kind="orm"``) or PRM on ``StepBatch`` data.

  Starts from the policy's backbone with a zero head; see ``fit``.
  ``loss`` is a key of ``OBJECTIVES``; ``*_groups`` give each trace's problem
  (needed by the pairwise term: batches then hold whole problems).
  """
  assert kind in POINTWISE, kind
  if loss not in OBJECTIVES:
    raise ValueError(f"loss must be one of {tuple(OBJECTIVES)}, got {loss!r}")
  train_groups = (
      np.arange(len(train_set)) if train_groups is None else train_groups
  )
  eval_groups = np.arange(len(eval_set)) if eval_groups is None else eval_groups
  rm = rm_lib.reward_model(ctx.model.cfg)
  dummy = jnp.ones((1, train_set.ids.shape[1]), jnp.int32)
  init_fn = lambda k: rm.init(k, dummy, dummy, dummy > 0)["params"]
  start = jax.eval_shape(lambda: nn.unbox(init_fn(jax.random.PRNGKey(0))))
  head = jax.tree.map(
      lambda x: jnp.zeros(x.shape, x.dtype), start["reward_head"]
  )
  values = {"model": policy_params["model"], "reward_head": head}
  return fit(
      ctx,
      name,
      init_fn,
      values,
      functools.partial(reward_loss, rm, kind, loss),
      _arrays(train_set, train_groups),
      _arrays(eval_set, eval_groups),
      steps=steps,
      batch_size=batch_size,
      learning_rate=learning_rate,
      seed=seed,
  )


def fit(
    ctx,
    name: str,
    init_fn,
    values,
    loss_fn,
    train_arrays: dict,
    eval_arrays: dict,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
):
  """Minimises ``loss_fn(params, batch)`` from ``values``; a verifier's loop.

  AdamW with 10% warmup and cosine decay, gradient clipping at 1, the
  non-finite guard; batches are drawn from a seeded permutation of the
  ``train_arrays`` rows (dict of equal-length arrays), or, with a
  ``group`` array, of the groups, so a batch holds whole problems. Checkpoints under
  ``<workdir>/checkpoints/<name>`` and resumes. Returns ``(params, history)``
  with the held-out loss (mean over ``eval_arrays``) before training, every
  50 steps and at the end.
  """
  tx = optim.make_optimizer(
      learning_rate=learning_rate,
      total_steps=steps,
      warmup_steps=max(steps // 10, 1),
      weight_decay=0.01,
      max_grad_norm=1.0,
  )
  st, _ = state_lib.create_state(
      init_fn, tx, jax.random.PRNGKey(seed), ctx.mesh, ctx.rules, params=values
  )

  @functools.partial(jax.jit, donate_argnums=0)
  def update(state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    state, upd = state_lib.guarded_update(state, grads, tx, loss)
    return state, {"loss": loss, **upd}

  held_out = functools.partial(_held_out, jax.jit(loss_fn), eval_arrays)
  history = {"eval_loss": []}

  def record_eval(step, state):
    history["eval_loss"].append((step, held_out(state.params)))
    return {"eval_loss": history["eval_loss"][-1][1]}

  order = batch_order(train_arrays, seed)

  def step_fn(state, i):
    idx = np.take(
        order, np.arange(i * batch_size, (i + 1) * batch_size), mode="wrap"
    )
    return update(state, {k: v[idx] for k, v in train_arrays.items()})

  st, result = loop.run_loop(
      ctx,
      name,
      st,
      step_fn,
      steps=steps,
      keep=1,
      write_every=50,
      log_every=50,
      log_keys=("loss", "eval_loss"),
      start=lambda state: record_eval(int(state.step), state),
      extra=record_eval,
  )
  history["train_seconds"] = result["train_seconds"]
  return st.params, history


def _held_out(loss_fn, arrays: dict, params, chunk: int = 256) -> float:
  """The mean of ``loss_fn`` over the rows of ``arrays``, in chunks."""
  n = len(next(iter(arrays.values())))
  total = 0.0
  for i in range(0, n, chunk):
    part = {k: v[i : i + chunk] for k, v in arrays.items()}
    total += float(loss_fn(params, part)) * len(part["ids"])
  return total / n


def batch_order(arrays: dict, seed: int) -> np.ndarray:
  """A seeded permutation of the rows of ``arrays``; with a ``group`` array,
  of whole groups in a random group order (a batch then holds whole
  problems, rows of a group in their order)."""
  rows = len(next(iter(arrays.values())))
  if "group" not in arrays:
    return np.random.default_rng(seed).permutation(rows)
  _, inv = np.unique(np.asarray(arrays["group"]), return_inverse=True)
  rank = np.random.default_rng(seed).permutation(inv.max() + 1)
  return np.lexsort((np.arange(rows), rank[inv]))
