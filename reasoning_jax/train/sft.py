"""Supervised fine-tuning: a pure masked cross-entropy and its jitted step.

Shapes: B sequences, T tokens (T - 1 predicted positions), V vocab. Sequences are
right-padded ``[bos] prompt completion [eos] pad...`` with a loss mask on the
completion, so the cold start, distillation and rejection-sampling SFT all
train on the same ``(ids, loss_mask)`` arrays and differ only in where the
completions come from.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from reasoning_jax.data import cold_start
from reasoning_jax.data import curate
from reasoning_jax.data import encoding
from reasoning_jax.models import CausalLM
from reasoning_jax.models.transformer import positions_from_valid
from reasoning_jax.parallel import multihost
from reasoning_jax.train import loop
from reasoning_jax.train import optim
from reasoning_jax.train import state as state_lib
from reasoning_jax.train.state import TrainState


def sft_loss(logits_btv, targets_bt, mask_bt):
  """Masked token-mean cross-entropy.

  L = -(1 / Σ m) Σ_{b,t} m_bt · log softmax(z_bt)[y_bt]

  Returns (loss, {"token_acc": masked accuracy of argmax, "tokens": Σ m}).
  """
  assert logits_btv.shape[:2] == targets_bt.shape == mask_bt.shape, (
      logits_btv.shape,
      targets_bt.shape,
      mask_bt.shape,
  )
  m = mask_bt.astype(jnp.float32)
  logp = jax.nn.log_softmax(logits_btv.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(logp, targets_bt[..., None], axis=-1)[..., 0]
  denom = jnp.maximum(m.sum(), 1.0)
  acc = (jnp.argmax(logits_btv, -1) == targets_bt).astype(jnp.float32)
  return (nll * m).sum() / denom, {
      "token_acc": (acc * m).sum() / denom,
      "tokens": m.sum(),
  }


def right_padded_lengths(ids_bt, pad_id: int):
  """[B] lengths of right-padded rows: one past the last non-pad token (a
  pad id inside a row, e.g. a chat template's eos when pad = eos, is text).
  NumPy for a NumPy ``ids_bt`` (host data, no device op), else jnp."""
  xp = np if isinstance(ids_bt, np.ndarray) else jnp
  idx = xp.arange(ids_bt.shape[1])
  return xp.max(xp.where(ids_bt != pad_id, idx, -1), axis=1) + 1


def sft_step(
    state: TrainState,
    ids_bt,
    mask_bt,
    *,
    model: CausalLM,
    tx: optax.GradientTransformation,
    pad_id: int = 0,
):
  """One AdamW step on a batch of ``ids [B, T]`` with loss mask ``[B, T]``
  (``pad_id`` marks padding: the tokenizer's)."""
  inputs, targets = ids_bt[:, :-1], ids_bt[:, 1:]
  valid = (
      jnp.arange(inputs.shape[1])[None]
      < right_padded_lengths(inputs, pad_id)[:, None]
  )

  def loss_fn(params):
    logits, _, _ = model.apply(
        {"params": params}, inputs, positions_from_valid(valid), valid
    )
    return sft_loss(logits, targets, mask_bt[:, 1:])

  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params
  )
  state, upd = state_lib.guarded_update(state, grads, tx, loss)
  state = state.replace(data_position=state.data_position + ids_bt.shape[0])
  return state, {"loss": loss, **metrics, **upd}


def make_sft_step(model, tx, state_shardings, batch_sharding, pad_id: int = 0):
  """``jit(sft_step)`` with explicit shardings; the state is donated."""
  return jax.jit(
      functools.partial(sft_step, model=model, tx=tx, pad_id=pad_id),
      in_shardings=(state_shardings, batch_sharding, batch_sharding),
      out_shardings=(state_shardings, None),
      donate_argnums=0,
  )


def batch_indices(position: int, batch: int, n: int, seed: int) -> np.ndarray:
  """Example ids for the batch starting at ``position`` (examples consumed).

  Each epoch is a fresh permutation seeded by ``(seed, epoch)``, so the data
  order is a pure function of the position stored in the checkpoint.
  """
  out = []
  while len(out) < batch:
    epoch, offset = divmod(position, n)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    take = perm[offset : offset + batch - len(out)]
    out.extend(take.tolist())
    position += len(take)
  return np.asarray(out)


def short_warmup(steps: int) -> int:
  """The warm-up of a short fine-tuning (a tenth of its steps, at least one):
  the stages that train on their own data (pretrain, rs, distill, tts
  revision) through ``fine_tune``."""
  return max(1, steps // 10)


def cold_start_examples(task, c, seed: int) -> list:
  """The cold-start set of ``sft`` section ``c``: the first ``num_examples``
  train problems with their reference solutions (with ``curate_pool`` > 0,
  the s1-style ``curate`` choice of them from that many); then, with
  ``bare_share`` > 0, the teacher's bare answers on that share of the
  problems of at most ``bare_max_steps`` steps (``data/cold_start.py``)."""
  if c.curate_pool:
    examples = curate.curate(
        [task.example("train", i) for i in range(c.curate_pool)],
        c.num_examples,
        task,
    )
  else:
    examples = [task.example("train", i) for i in range(c.num_examples)]
  if c.bare_share > 0:
    examples = cold_start.teacher_solutions(
        examples, share=c.bare_share, max_steps=c.bare_max_steps, seed=seed
    )
  return examples


def _encode(tok, examples, max_len: int, prompt_loss: bool):
  """``encoding.encode_sft``, trimmed to the longest example rounded up to
  8 slots (training costs what the text needs, not the sampling budget)."""
  ids, mask = encoding.encode_sft(tok, examples, max_len, prompt_loss)
  seq_len = encoding.round_up(
      int(right_padded_lengths(np.asarray(ids), tok.pad_id).max()),
      8,
      ids.shape[1],
  )
  return ids[:, :seq_len], mask[:, :seq_len]


def run_sft(ctx, params=None, *, stage: str = "sft"):
  """The SFT stage: ``fine_tune`` on the cold-start set
  (``cold_start_examples``) with ``config.sft``'s schedule. Returns
  ``(params, result)``."""
  cfg, c = ctx.config, ctx.config.sft
  return fine_tune(
      ctx,
      params,
      cold_start_examples(ctx.task, c, cfg.seed),
      stage=stage,
      steps=c.steps,
      learning_rate=c.learning_rate,
      warmup_steps=c.warmup_steps,
  )


def fine_tune(
    ctx,
    params,
    examples,
    *,
    stage: str,
    steps: int,
    learning_rate: float,
    warmup_steps: int | None = None,
    prompt_loss: bool = False,
    max_len: int | None = None,
    eval_every: int | None = None,
):
  """Supervised training on ``examples``: evaluate, checkpoint as ``stage``.

  ``steps`` AdamW steps at peak ``learning_rate`` after ``warmup_steps``
  (default ``short_warmup``; the rest of the optimizer, the batch size and
  the log cadence are ``config.sft``'s), on at most ``max_len`` tokens
  (default ``data.max_prompt_len + data.max_new_tokens``); ``prompt_loss``
  trains on the prompt too (pretraining); held-out evaluation every
  ``eval_every`` steps (default ``eval.every``; 0: only at the end).
  Returns ``(params, result)``: result has the final held-out greedy pass@1.
  """
  cfg, c = ctx.config, ctx.config.sft
  if max_len is None:
    max_len = cfg.data.max_prompt_len + cfg.data.max_new_tokens
  ids, mask = _encode(ctx.tok, examples, max_len, prompt_loss)
  seq_len = ids.shape[1]
  tx = optim.from_section(
      c,
      total_steps=steps,
      learning_rate=learning_rate,
      warmup_steps=short_warmup(steps)
      if warmup_steps is None
      else warmup_steps,
  )
  dummy = jnp.ones((1, seq_len - 1), jnp.int32)
  state, state_sh = state_lib.create_state(
      lambda k: ctx.model.init(k, dummy, dummy, dummy > 0)["params"],
      tx,
      jax.random.PRNGKey(cfg.seed),
      ctx.mesh,
      ctx.rules,
      params=params,
  )
  batch_sh = ctx.batch_sharding
  rows = multihost.process_rows(batch_sh, c.batch_size)  # this process's.
  sft_step_fn = make_sft_step(ctx.model, tx, state_sh, batch_sh, ctx.tok.pad_id)

  def step_fn(state, _):
    idx = batch_indices(
        int(state.data_position), c.batch_size, len(examples), cfg.seed
    )[rows]
    return sft_step_fn(
        state,
        *(
            multihost.to_global(x[idx], batch_sh, c.batch_size)
            for x in (ids, mask)
        ),
    )

  state, result = loop.run_policy_stage(
      ctx,
      stage,
      state,
      step_fn,
      steps=steps,
      policy=lambda st: st.params,
      write_every=cfg.log_every,
      log_keys=("loss", "token_acc", "grad_norm"),
      eval_every=cfg.eval.every if eval_every is None else eval_every,
      final_extra=lambda st, seconds: {"train_seconds": seconds},
  )
  return state.params, result
