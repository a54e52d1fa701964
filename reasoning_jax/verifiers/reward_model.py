"""Outcome (ORM) and process (PRM) reward models: losses, scoring, training.

Both are ``ScalarModel(cfg, "reward_head")``: the policy's backbone plus a
per-token scalar head, initialised from the policy. The scalar at a token is
a logit; its sigmoid is the probability that the trace is (ORM, scored at
the last completion token) or still is (PRM, scored at each step boundary)
on the way to the right answer. Shapes: B traces, T slots, S steps.
"""

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from reasoning_jax.models import ScalarModel
from reasoning_jax.sampling.sampler import positions_from_valid
from reasoning_jax.train import checkpoint, optim, state as state_lib
from reasoning_jax.train import metrics as metrics_lib

HOW = ("min", "prod", "mean", "last")


def bce_with_logits(logits, labels, mask):
  """Mean over ``mask`` of -[y log σ(z) + (1 - y) log(1 - σ(z))].

  Written as softplus(z) - y·z, stable for any z; ``labels`` may be soft
  (in [0, 1]). All of ``logits``, ``labels``, ``mask`` share one shape; an
  all-False mask gives 0.
  """
  assert logits.shape == labels.shape == mask.shape, (
      logits.shape, labels.shape, mask.shape)
  w = mask.astype(jnp.float32)
  per = jax.nn.softplus(logits) - labels * logits
  return jnp.sum(per * w) / jnp.maximum(jnp.sum(w), 1.0)


def gather_steps(scores_bt, step_pos_bs, step_valid_bs):
  """Scores at the step boundaries: ``[B, T]`` -> ``[B, S]`` (0 off-mask)."""
  b, s = step_pos_bs.shape
  assert scores_bt.shape[0] == b and step_valid_bs.shape == (b, s)
  got = jnp.take_along_axis(scores_bt, step_pos_bs, axis=1)
  return jnp.where(step_valid_bs, got, 0.0)


def steps_from_mask(step_mask_bt, max_steps: int):
  """Boundary mask ``[B, T]`` -> (positions ``[B, S]``, valid ``[B, S]``).

  The i-th True slot of a row is step i; rows with fewer than S steps are
  padded (position 0, valid False), steps past S are dropped.
  """
  b, t = step_mask_bt.shape
  order = jnp.argsort(~step_mask_bt, axis=1, stable=True)[:, :max_steps]
  count = jnp.sum(step_mask_bt, axis=1, keepdims=True)
  valid = jnp.arange(max_steps)[None, :] < count
  if max_steps > t:  # more steps than slots: pad the positions.
    order = jnp.pad(order, ((0, 0), (0, max_steps - t)))
  return jnp.where(valid, order, 0).astype(jnp.int32), valid


def prm_loss(scores_bt, step_pos_bs, step_valid_bs, labels_bs):
  """Per-step BCE at the boundaries; every other token is ignored."""
  return bce_with_logits(gather_steps(scores_bt, step_pos_bs, step_valid_bs),
                         labels_bs, step_valid_bs)


def orm_loss(scores_bt, last_b, correct_b):
  """BCE of the score at each trace's last completion token."""
  z = jnp.take_along_axis(scores_bt, last_b[:, None], axis=1)[:, 0]
  return bce_with_logits(z, correct_b, jnp.ones_like(correct_b, bool))


def pairwise_loss(scores_b, correct_b, group_b):
  """Within-problem ranking loss (Bradley–Terry over a problem's samples).

  Mean over pairs (i, j) of one group (problem) with i correct and j wrong
  of softplus(−(z_i − z_j)) = −log σ(z_i − z_j). Only differences inside a
  group count, so a score that is the same for every sample of a problem
  (a difficulty detector) gets log 2 however well it sorts problems. 0 when
  no group has both classes.
  """
  assert scores_b.shape == correct_b.shape == group_b.shape, (
      scores_b.shape, correct_b.shape, group_b.shape)
  same = group_b[:, None] == group_b[None, :]
  w = (same & (correct_b[:, None] > 0.5) & (correct_b[None, :] < 0.5)
       ).astype(jnp.float32)
  d = scores_b[:, None] - scores_b[None, :]
  return jnp.sum(jax.nn.softplus(-d) * w) / jnp.maximum(jnp.sum(w), 1.0)


def soft_min(z_bs, mask_bs):
  """−log Σ exp(−z) over the valid steps: a smooth weakest-step logit
  (0 for a trace with no step)."""
  assert z_bs.shape == mask_bs.shape, (z_bs.shape, mask_bs.shape)
  out = -jax.nn.logsumexp(jnp.where(mask_bs, -z_bs, -jnp.inf), axis=1)
  return jnp.where(jnp.any(mask_bs, axis=1), out, 0.0)


LOSSES = ("bce", "bce+pairwise")


def aggregate_step_scores(scores_bs, mask_bs, how: str):
  """One score per trace from step probabilities ``[B, S]`` in [0, 1].

  ``min``: the weakest step; ``prod``: Π p_i, summed in log space
  (log p clipped at 1e-30); ``mean``; ``last``: the last valid step.
  Padded steps (``mask`` False) are ignored. A trace with no step scores 0.
  """
  assert scores_bs.shape == mask_bs.shape, (scores_bs.shape, mask_bs.shape)
  if how not in HOW:
    raise ValueError(f"how must be one of {HOW}, got {how!r}")
  m = mask_bs.astype(bool)
  n = jnp.sum(m, axis=1)
  if how == "min":
    out = jnp.min(jnp.where(m, scores_bs, jnp.inf), axis=1)
  elif how == "prod":
    logp = jnp.log(jnp.maximum(scores_bs, 1e-30))
    out = jnp.exp(jnp.sum(jnp.where(m, logp, 0.0), axis=1))
  elif how == "mean":
    out = jnp.sum(jnp.where(m, scores_bs, 0.0), axis=1) / jnp.maximum(n, 1)
  else:
    last = m.shape[1] - 1 - jnp.argmax(m[:, ::-1], axis=1)  # last True.
    out = jnp.take_along_axis(scores_bs, last[:, None], axis=1)[:, 0]
  return jnp.where(n > 0, out, 0.0)


def reward_model(model_cfg) -> ScalarModel:
  return ScalarModel(model_cfg, head_name="reward_head")


def token_scores(rm: ScalarModel, params, ids, valid):
  """Per-token logits ``[B, T]`` of the reward model."""
  return rm.apply({"params": params}, ids, positions_from_valid(valid), valid)


def score_steps(rm: ScalarModel, params, ids, valid, step_mask,
                max_steps: int):
  """P(step still on track) at each boundary: ``[B, S]``, and its mask."""
  pos, ok = steps_from_mask(step_mask, max_steps)
  z = gather_steps(token_scores(rm, params, ids, valid), pos, ok)
  return jnp.where(ok, jax.nn.sigmoid(z), 0.0), ok


def score_outcome(rm: ScalarModel, params, ids, valid, last):
  """P(trace correct) from the score at the last completion token: ``[B]``."""
  z = token_scores(rm, params, ids, valid)
  return jax.nn.sigmoid(jnp.take_along_axis(z, last[:, None], axis=1)[:, 0])


def chunked(fn, *arrays, size: int = 256):
  """``fn`` over row chunks of ``arrays`` (one compiled shape per chunk
  size, bounded memory), outputs concatenated as host arrays; a tuple
  output gives a tuple."""
  outs = [fn(*(a[i:i + size] for a in arrays))
          for i in range(0, max(len(arrays[0]), 1), size)]
  if isinstance(outs[0], tuple):
    return tuple(np.concatenate([np.asarray(o[j]) for o in outs])
                 for j in range(len(outs[0])))
  return np.concatenate([np.asarray(o) for o in outs])


def make_scorers(rm: ScalarModel, max_steps: int):
  """Jitted ``steps(params, ids, valid, step_mask)`` and
  ``outcome(params, ids, valid, last)``."""
  return (jax.jit(functools.partial(score_steps, rm, max_steps=max_steps)),
          jax.jit(functools.partial(score_outcome, rm)))


def save_params(path: str, params) -> None:
  """The reward model's parameters alone, as an orbax checkpoint at ``path``
  (what ``rl.prm_path`` points to)."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  path = path if "://" in path else os.path.abspath(path)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, params, force=True)


def load_params(path: str, rm):
  """Parameters saved by ``save_params``, checked against the shapes of
  ``rm`` (a ``ScalarModel``, or the ``CausalLM`` of a generative verifier)."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  path = path if "://" in path else os.path.abspath(path)
  if "://" not in path and not os.path.isdir(path):
    raise FileNotFoundError(f"no reward model parameters at {path}")
  dummy = jnp.ones((1, 8), jnp.int32)
  abstract = jax.eval_shape(lambda: nn.unbox(
      rm.init(jax.random.PRNGKey(0), dummy, dummy, dummy > 0)["params"]))
  with ocp.StandardCheckpointer() as ckptr:
    return ckptr.restore(path, abstract)


def make_process_reward(rm: ScalarModel, params, max_steps: int, *,
                        think_id: int, close_id: int, newline_id: int):
  """Jitted PRM scoring of sampled completions, for process rewards in RL.

  ``fn(prompt [B, Pl], prompt_valid, tokens [B, N], mask) -> (scores [B, S],
  pos [B, S], valid [B, S])``: P(step on track) at each step boundary of
  each completion, the boundary's index into ``tokens``, and which of the S
  slots hold a step. Boundaries are found on device (``boundary_mask``).
  """
  from reasoning_jax.verifiers.steps import boundary_mask  # pylint: disable=g-import-not-at-top

  @jax.jit
  def score(params, prompt, prompt_valid, tokens, mask):
    bnd = boundary_mask(tokens, mask, think_id, close_id, newline_id)
    ids = jnp.concatenate([prompt, tokens], 1)
    valid = jnp.concatenate([prompt_valid, mask], 1)
    step_mask = jnp.concatenate([jnp.zeros_like(prompt_valid), bnd], 1)
    scores, ok = score_steps(rm, params, ids, valid, step_mask, max_steps)
    pos, _ = steps_from_mask(bnd, max_steps)
    return scores, pos, ok
  return functools.partial(score, params)


def _loss(rm, kind, loss, params, batch):
  """``bce``: the pointwise loss (``orm_loss`` / ``prm_loss``);
  ``bce+pairwise``: plus ``pairwise_loss`` on each trace's outcome logit
  (the ORM's last-token logit; the PRM's ``soft_min`` over its steps)."""
  z = token_scores(rm, params, batch["ids"], batch["valid"])
  if kind == "orm":
    out = orm_loss(z, batch["last"], batch["correct"])
    outcome = jnp.take_along_axis(z, batch["last"][:, None], axis=1)[:, 0]
  else:
    out = prm_loss(z, batch["step_pos"], batch["step_valid"],
                   batch["labels"])
    outcome = soft_min(gather_steps(z, batch["step_pos"],
                                    batch["step_valid"]), batch["step_valid"])
  if loss == "bce+pairwise":
    out = out + pairwise_loss(outcome, batch["correct"], batch["group"])
  return out


def _arrays(sb, group):
  keys = ("ids", "valid", "step_pos", "step_valid", "labels", "last",
          "correct")
  return {**{k: getattr(sb, k) for k in keys},
          "group": np.asarray(group, np.int32)}


def train(ctx, policy_params, kind: str, train_set, eval_set, *, name: str,
          steps: int, batch_size: int, learning_rate: float, seed: int = 0,
          loss: str = "bce", train_groups=None, eval_groups=None):
  """Trains an ORM (``kind="orm"``) or PRM on ``StepBatch`` data.

  Starts from the policy's backbone with a zero head; see ``fit``.
  ``loss`` is one of ``LOSSES``; ``*_groups`` give each trace's problem
  (needed by the pairwise term: batches then hold whole problems).
  """
  assert kind in ("orm", "prm"), kind
  if loss not in LOSSES:
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
  train_groups = (np.arange(len(train_set)) if train_groups is None
                  else train_groups)
  eval_groups = (np.arange(len(eval_set)) if eval_groups is None
                 else eval_groups)
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  rm = reward_model(ctx.model.cfg)
  dummy = jnp.ones((1, train_set.ids.shape[1]), jnp.int32)
  init_fn = lambda k: rm.init(k, dummy, dummy, dummy > 0)["params"]
  start = jax.eval_shape(lambda: nn.unbox(init_fn(jax.random.PRNGKey(0))))
  head = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype),
                      start["reward_head"])
  values = {"model": policy_params["model"], "reward_head": head}
  return fit(ctx, name, init_fn, values,
             functools.partial(_loss, rm, kind, loss),
             _arrays(train_set, train_groups), _arrays(eval_set, eval_groups),
             steps=steps,
             batch_size=batch_size, learning_rate=learning_rate, seed=seed)


def fit(ctx, name: str, init_fn, values, loss_fn, train_arrays: dict,
        eval_arrays: dict, *, steps: int, batch_size: int,
        learning_rate: float, seed: int = 0):
  """Minimises ``loss_fn(params, batch)`` from ``values``; a verifier's loop.

  AdamW with 10% warmup and cosine decay, gradient clipping at 1, the
  non-finite guard; batches are drawn from a seeded permutation of the
  ``train_arrays`` rows (dict of equal-length arrays), or, with a
  ``group`` array, of the groups, so a batch holds whole problems. Checkpoints under
  ``<workdir>/checkpoints/<name>`` and resumes. Returns ``(params, history)``
  with the held-out loss (mean over ``eval_arrays``) before training, every
  50 steps and at the end.
  """
  tx = optim.make_optimizer(learning_rate=learning_rate, total_steps=steps,
                            warmup_steps=max(steps // 10, 1),
                            weight_decay=0.01, max_grad_norm=1.0)
  st, _ = state_lib.create_state(init_fn, tx, jax.random.PRNGKey(seed),
                                 ctx.mesh, ctx.rules, params=values)
  ckpt = checkpoint.Checkpointer(ctx.workdir, name, 1)
  if ckpt.latest_step() is not None:
    st = ckpt.restore(st)
    logging.info("%s: resumed from step %d", name, int(st.step))

  @functools.partial(jax.jit, donate_argnums=0)
  def step_fn(state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    state, upd = state_lib.guarded_update(state, grads, tx, loss)
    return state, {"loss": loss, **upd}

  eval_loss = jax.jit(loss_fn)
  n_eval = len(next(iter(eval_arrays.values())))

  def held_out(params):
    total = 0.0
    for i in range(0, n_eval, 256):
      chunk = {k: v[i:i + 256] for k, v in eval_arrays.items()}
      total += float(eval_loss(params, chunk)) * len(chunk["ids"])
    return total / n_eval

  history = {"eval_loss": [(int(st.step), held_out(st.params))]}
  writer = metrics_lib.MetricWriter(ctx.logdir, name, int(st.step))
  progress = metrics_lib.Progress(name, steps, int(st.step))
  rows = len(next(iter(train_arrays.values())))
  order = np.random.default_rng(seed).permutation(rows)
  if "group" in train_arrays:  # whole groups, in a random group order.
    _, inv = np.unique(np.asarray(train_arrays["group"]),
                       return_inverse=True)
    rank = np.random.default_rng(seed).permutation(inv.max() + 1)
    order = np.lexsort((np.arange(rows), rank[inv]))
  t0 = time.perf_counter()
  while int(st.step) < steps:
    i = int(st.step)
    idx = np.take(order, np.arange(i * batch_size, (i + 1) * batch_size),
                  mode="wrap")
    st, m = step_fn(st, {k: v[idx] for k, v in train_arrays.items()})
    step = i + 1
    if step % 50 == 0 or step == steps:
      m = jax.device_get(m)
      ev = held_out(st.params)
      history["eval_loss"].append((step, ev))
      writer.write(step, {**m, "eval_loss": ev,
                          "steps_per_s": progress.rate(step)})
      progress.log(step, {"loss": m["loss"], "eval_loss": ev})
    ckpt.save_and_stop_if_preempted(name, step, st)
  if ckpt.latest_step() != int(st.step):  # a finished run resumed: saved.
    ckpt.save(int(st.step), st, force=True)
  ckpt.close()
  writer.close()
  history["train_seconds"] = time.perf_counter() - t0
  return st.params, history
