"""The learner's jitted step and state: one minibatch through the loss.

``rl_step`` computes the policy's log-probs (and a critic's values) on a
``Batch``, the loss of its algorithm (``rl/algorithms.py``: the record
picked by ``rl.algorithm``, its loss from ``rl/losses.py``) and a guarded
optimizer update. ``build_learner`` makes the sharded state (the policy,
and a critic when the algorithm trains one), ``make_learner_fns`` jits the
step and the log-prob / value passes with explicit shardings.

Dimensions: B sequences, L prompt slots, T completion tokens, V vocab.
The critic is a ``ScalarModel`` with a value head whose backbone starts as
the policy's.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from reasoning_jax.data import encoding
from reasoning_jax.models import flops as flops_lib
from reasoning_jax.models import ScalarModel
from reasoning_jax.models.transformer import positions_from_valid
from reasoning_jax.parallel import sharding
from reasoning_jax.rl import algorithms
from reasoning_jax.rl import losses
from reasoning_jax.train import optim
from reasoning_jax.train import state as state_lib


class Batch(NamedTuple):
  """One minibatch of the rollout, already on device."""

  prompt_ids: jax.Array  # [B, L] int32, left-padded.
  prompt_valid: jax.Array  # [B, L] bool
  tokens: jax.Array  # [B, T] int32
  mask: jax.Array  # [B, T] bool, tokens that enter the loss.
  old_logp: jax.Array | None  # [B, T]; None: on-policy, see ``prepare_batch``.
  ref_logp: jax.Array | None  # [B, T]; None when kl_beta == 0.
  adv: jax.Array  # [B] (one per sequence) or [B, T] (per token).
  old_values: jax.Array | None  # [B, T] the critic's at preparation, or None.
  returns: jax.Array | None  # [B, T] the critic's targets, or None.


def _sequence(prompt_ids, prompt_valid, tokens, mask):
  """``prompt ++ completion``: ids, valid and RoPE positions [B, L + T]."""
  seq, valid = encoding.join_completions(prompt_ids, prompt_valid, tokens, mask)
  return seq, valid, positions_from_valid(valid)


def completion_logprobs(model, params, prompt_ids, prompt_valid, tokens, mask):
  """Log-probs [B, T] and entropies [B, T] of the completion tokens.

  One full forward over ``prompt ++ completion``; the logits at slot
  L−1+t predict completion token t.
  """
  seq, valid, pos = _sequence(prompt_ids, prompt_valid, tokens, mask)
  pl, n = prompt_ids.shape[1], tokens.shape[1]
  logits, _, _ = model.apply(
      {"params": params}, seq, pos, valid, logits_slice=(pl - 1, n)
  )
  logp_all = jax.nn.log_softmax(logits, -1)
  logp = jnp.take_along_axis(logp_all, tokens[..., None], -1)[..., 0]
  entropy = -(jnp.exp(logp_all) * logp_all).sum(-1)
  return logp, entropy


def completion_values(critic, params, prompt_ids, prompt_valid, tokens, mask):
  """V(state before token t) [B, T] from the critic."""
  seq, valid, pos = _sequence(prompt_ids, prompt_valid, tokens, mask)
  v = critic.apply({"params": params}, seq, pos, valid)
  pl, n = prompt_ids.shape[1], tokens.shape[1]
  return v[:, pl - 1 : pl - 1 + n]


def _sequences(b: Batch) -> tuple:
  """The four sequence arrays of a batch, as the passes take them."""
  return b.prompt_ids, b.prompt_valid, b.tokens, b.mask


def algorithm_settings(rc, max_tokens: int | None = None):
  """The ``algorithms.Settings`` of a resolved ``config.rl`` section
  (``config/rl.resolve``), field by field; ``max_tokens`` is the
  generation budget (None: each batch's own length)."""
  fields = [f for f in algorithms.Settings._fields if f != "max_tokens"]
  return algorithms.Settings(
      **{name: rc[name] for name in fields}, max_tokens=max_tokens
  )


def make_loss_fn(
    model,
    critic,
    algorithm: algorithms.Algorithm,
    settings: algorithms.Settings,
):
  """``loss_fn(params, batch) -> (loss, (metrics, token_mean_part))``: the
  learner's log-prob (and value) passes, then ``algorithm``'s loss."""

  def loss_fn(params, b: Batch):
    logp_bt, ent_bt = completion_logprobs(
        model, params["policy"], *_sequences(b)
    )
    values_bt = None
    if algorithm.trains_critic:
      values_bt = completion_values(critic, params["critic"], *_sequences(b))
    # The losses stop gradients through old/ref themselves; a missing one is
    # the current policy's own log-prob (ratio 1, or KL 0 with kl_beta 0).
    inputs = algorithms.LossInputs(
        logp_bt=logp_bt,
        entropy_bt=ent_bt,
        old_logp_bt=logp_bt if b.old_logp is None else b.old_logp,
        ref_logp_bt=logp_bt if b.ref_logp is None else b.ref_logp,
        mask_bt=b.mask,
        adv=b.adv,
        values_bt=values_bt,
        old_values_bt=b.old_values,
        returns_bt=b.returns,
    )
    value, m = algorithm.loss_fn(inputs, settings)
    token_part = m.pop(losses.TOKEN_MEAN_PART, 0.0)
    m["entropy"] = losses.REDUCTIONS["token_mean"](
        ent_bt, b.mask.astype(jnp.float32)
    )
    return value, (m, token_part)

  return loss_fn


def rl_step(
    state,
    batch: Batch,
    *,
    model,
    critic,
    tx,
    algorithm: algorithms.Algorithm,
    settings: algorithms.Settings,
    microbatches: int = 1,
):
  """One optimizer step on a minibatch: ``algorithm``'s loss and a guarded
  update. ``microbatches`` = k > 1 computes the gradient in k sequential
  chunks (``chunked_value_and_grad``): the same step with a k times smaller
  activation footprint."""
  loss_fn = make_loss_fn(model, critic, algorithm, settings)
  if microbatches == 1:
    (value, (m, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, batch
    )
  else:
    (value, m), grads = chunked_value_and_grad(
        loss_fn, state.params, batch, microbatches, settings.loss_reduction
    )
  state, upd = state_lib.guarded_update(state, grads, tx, value)
  return state, {"loss": value, **m, **upd}


def split_chunks(tree, k: int):
  """Leading axis B -> [k, B/k]: chunk c holds rows c, c+k, c+2k, ..."""
  b = jax.tree.leaves(tree)[0].shape[0]
  assert b % k == 0, (b, k)
  return jax.tree.map(
      lambda x: jnp.moveaxis(x.reshape(b // k, k, *x.shape[1:]), 1, 0), tree
  )


def merge_chunks(tree):
  """``split_chunks``' inverse: [k, B/k, ...] -> [B, ...]."""
  return jax.tree.map(
      lambda x: jnp.moveaxis(x, 0, 1).reshape(-1, *x.shape[2:]), tree
  )


def chunked_logprobs(model, k: int, params, *seq):
  """``completion_logprobs`` of a batch in k sequential chunks (1/k of
  the activation memory; same values)."""
  fn = functools.partial(completion_logprobs, model, params)
  if k == 1:
    return fn(*seq)
  return merge_chunks(jax.lax.map(lambda c: fn(*c), split_chunks(seq, k)))


def chunked_value_and_grad(loss_fn, params, batch: Batch, k: int, reduction):
  """``value_and_grad`` of a batch's loss L, computed over k chunks.

  ``loss_fn(params, batch) -> (L, (metrics, Q))``, where Q is the part of L
  that is a token mean whatever ``reduction`` is (PPO's value and entropy
  terms, ``losses.TOKEN_MEAN_PART``; 0 for GRPO). Chunk c holds rows c,
  c+k, c+2k, ... (each chunk spreads over the batch sharding like the
  batch when B/k is a multiple of the data-parallel devices). Every
  reduction is linear in its per-token terms, so with s_c =
  ``losses.chunk_share`` of the reduction and t_c that of the token mean

    L = Σ_c [s_c L_c + (t_c − s_c) Q_c],  ∇L = Σ_c ∇[s_c L_c + (t_c − s_c) Q_c]

  exactly (up to float summation order; gradients summed in float32).
  Returns ((L, metrics), ∇L): ``losses.LOSS_METRICS`` weighted by s_c, the
  other metrics (token means) by t_c. One chunk's activations are live at
  a time, so the step's temporary memory is about 1/k of the whole batch's.
  """
  chunks = split_chunks(batch, k)
  f32 = lambda tree: jax.tree.map(lambda x: x.astype(jnp.float32), tree)

  def body(acc, chunk: Batch):
    s = losses.chunk_share(reduction, chunk.mask, batch.mask)
    t = losses.chunk_share("token_mean", chunk.mask, batch.mask)

    def part(p):  # this chunk's part of the whole batch's loss.
      value, (m, q) = loss_fn(p, chunk)
      return s * value + (t - s) * q, m

    (value, m), grads = jax.value_and_grad(part, has_aux=True)(params)
    weights = {n: s if n in losses.LOSS_METRICS else t for n in m}
    return (
        acc[0] + value,
        {n: acc[1][n] + weights[n] * v for n, v in f32(m).items()},
        jax.tree.map(lambda a, g: a + g, acc[2], f32(grads)),
    ), None

  value0, (m0, _) = jax.eval_shape(
      loss_fn, params, jax.tree.map(lambda x: x[0], chunks)
  )
  zeros = lambda tree: jax.tree.map(
      lambda x: jnp.zeros(x.shape, jnp.float32), tree
  )
  (value, m, grads), _ = jax.lax.scan(
      body, (zeros(value0), zeros(m0), zeros(params)), chunks
  )
  grads = jax.tree.map(lambda g, p: g.astype(p.dtype), grads, params)
  return (value, m), grads


def _make_tx(rc, total_steps: int, trains_critic: bool):
  """AdamW at a constant ``rl.learning_rate`` for the policy (and at
  ``rl.critic_lr`` for a critic)."""

  def one(lr):
    return optim.from_section(
        rc, total_steps=total_steps, learning_rate=lr, schedule="constant"
    )

  rates = {"policy": rc.learning_rate}
  if trains_critic:
    rates["critic"] = rc.critic_lr
  return optax.multi_transform(
      {name: one(lr) for name, lr in rates.items()}, {n: n for n in rates}
  )


def build_learner(
    model,
    params,
    rc,
    mesh,
    rules,
    seq_len: int,
    seed: int,
    *,
    algorithm: str,
    tx: optax.GradientTransformation | None = None,
):
  """Sharded learner state from the SFT policy ``params``.

  ``state.params = {"policy"}``; an ``algorithm`` that trains a critic adds
  ``"critic"``: a ``ScalarModel`` whose backbone starts as a copy of the
  policy's and whose value head starts at zero. ``tx`` replaces the
  config's AdamW (e.g. plain SGD, whose update is the gradient). Returns
  (state, state_shardings, critic or None, tx).
  """
  trains_critic = algorithms.ALGORITHMS[algorithm].trains_critic
  dummy = jnp.ones((1, seq_len), jnp.int32)
  init_fns = {
      "policy": lambda k: model.init(k, dummy, dummy, dummy > 0)["params"]
  }
  start = {"policy": params}
  critic = None
  if trains_critic:
    critic = ScalarModel(model.cfg, head_name="value_head")
    init_fns["critic"] = lambda k: critic.init(k, dummy, dummy, dummy > 0)[
        "params"
    ]
    start["critic"] = {
        "model": params["model"],
        "value_head": {
            "kernel": jnp.zeros((model.cfg.d_model,)),
            "bias": jnp.zeros(()),
        },
    }
  if tx is None:
    tx = _make_tx(rc, rc.steps * updates_per_step(rc), trains_critic)
  state, state_sh = state_lib.create_state(
      lambda k: {name: fn(k) for name, fn in init_fns.items()},
      tx,
      jax.random.PRNGKey(seed),
      mesh,
      rules,
      params=start,
  )
  return state, state_sh, critic, tx


def reference_copy(state, state_sh):
  """The KL reference: a copy of the learner's starting policy, made by one
  jit onto the policy's shardings (the state itself is donated to each
  step, so it cannot be shared)."""
  return jax.jit(
      lambda t: jax.tree.map(jnp.copy, t),
      out_shardings=state_sh.params["policy"],
  )(state.params["policy"])


class LearnerFns(NamedTuple):
  """The learner's algorithm and its jitted functions (explicit shardings)."""

  algorithm: algorithms.Algorithm
  settings: algorithms.Settings
  step: Callable  # (state, Batch) -> (state, metrics); state donated.
  take: Callable  # (Batch, idx) -> minibatch, batch-sharded.
  # (policy params, prompt_ids, prompt_valid, tokens, mask) -> logp, entropy.
  logp: Callable
  values: Callable | None  # (critic params, ...) -> values; with a critic.


def make_learner_fns(
    model,
    critic,
    tx,
    rc,
    state_sh,
    batch_sh,
    *,
    algorithm: str,
    max_tokens: int | None = None,
) -> LearnerFns:
  """Jits ``algorithm``'s RL step and the log-prob/value passes for these
  shardings, with the resolved section ``rc``'s settings (``max_tokens``:
  the generation budget, see ``algorithm_settings``)."""
  repl = sharding.replicated(batch_sh.mesh)
  alg = algorithms.ALGORITHMS[algorithm]
  hyper = algorithm_settings(rc, max_tokens)
  step = jax.jit(
      functools.partial(
          rl_step,
          model=model,
          critic=critic,
          tx=tx,
          algorithm=alg,
          settings=hyper,
          microbatches=rc.microbatches,
      ),
      in_shardings=(state_sh, batch_sh),
      out_shardings=(state_sh, repl),
      donate_argnums=0,
  )
  take = jax.jit(
      lambda batch, idx: jax.tree.map(lambda x: x[idx], batch),
      in_shardings=(batch_sh, repl),
      out_shardings=batch_sh,
  )
  seq_in = (batch_sh,) * 4
  # The log-prob pass sees the whole rollout: in chunks of the gradient's.
  chunks = num_minibatches(rc) * rc.microbatches if rc.microbatches > 1 else 1
  logp = jax.jit(
      functools.partial(chunked_logprobs, model, chunks),
      in_shardings=(state_sh.params["policy"], *seq_in),
      out_shardings=batch_sh,
  )
  values = None
  if alg.trains_critic:
    values = jax.jit(
        functools.partial(completion_values, critic),
        in_shardings=(state_sh.params["critic"], *seq_in),
        out_shardings=batch_sh,
    )
  return LearnerFns(
      algorithm=alg,
      settings=hyper,
      step=step,
      take=take,
      logp=logp,
      values=values,
  )


def num_minibatches(rc) -> int:
  return max(1, (rc.num_prompts * rc.group_size) // rc.minibatch_size)


def updates_per_step(rc) -> int:
  return rc.num_updates * num_minibatches(rc)


def step_flops(model_cfg, rc, batch: int, seq: int, *, algorithm: str) -> float:
  """Model FLOPs of one learner step on ``batch`` sequences of ``seq``
  tokens, as ``learner.prepare_batch`` and ``update`` run it: the reference
  pass (when ``kl_beta`` > 0), the sampling policy's (when the update is
  off-policy), a critic's values pass, then ``num_updates`` forward +
  backward passes of each trained model (the policy, and a critic)."""
  critic = algorithms.ALGORITHMS[algorithm].trains_critic
  k = 1 + critic
  before = (rc.kl_beta > 0) + (updates_per_step(rc) > 1) + critic
  return flops_lib.train_flops(
      model_cfg,
      batch,
      seq,
      forwards=before + rc.num_updates * k,
      backwards=rc.num_updates * k,
  )
