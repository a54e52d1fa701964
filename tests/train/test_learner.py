"""One whole learner update (``learner.learn``: advantages, masks, old and
reference log-probs, trimming, minibatches, several passes) against an
independent reference written from the formulas, on a fixed rollout.

The optimizer is plain SGD, so each step moves the parameters by exactly
lr times the gradient: AdamW's first step is lr·sign(g) and would hide a
loss off by a constant factor. The reference recomputes log-probs with a
full forward pass (no logits slice, no trimming), advantages in NumPy, and
the loss from its equations; it is differentiated with ``jax.grad``.
"""

from conftest import init_params
from conftest import TINY
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from reasoning_jax.config import base_config
from reasoning_jax.config import rl as rl_config
from reasoning_jax.models import CausalLM
from reasoning_jax.models import ScalarModel
from reasoning_jax.parallel import sharding
from reasoning_jax.rl import losses
from reasoning_jax.sampling.sampler import make_sampler
from reasoning_jax.train import learner
from reasoning_jax.train import learner_step
from reasoning_jax.train import rollout as rollout_lib
from reasoning_jax.train import state as state_lib

P, G, N = 4, 4, 10
B = P * G
LR = {"policy": 0.5, "critic": 0.005}  # the value loss's gradients are larger.
# Group 1 has no spread (GRPO gives it zero advantage; grpo_skip drops it).
REWARDS = np.array(
    [1, 0, 0.5, 1, 0.5, 0.5, 0.5, 0.5, 0, 0, 1, 0, 0.2, 0.9, 0.4, 0.1],
    np.float32,
)
TRUNCATED = np.zeros(B, bool)
TRUNCATED[[1, 9, 14]] = True


def _fixture():
  model = CausalLM(TINY)
  params = init_params(TINY, seed=0, scale=2.0)
  ids = np.zeros((B, 7), np.int32)
  for i in range(B):  # left-padded prompts of 4-7 tokens, 4 per group.
    k = 4 + (i // G) % 4
    ids[i, 7 - k :] = [1] + [
        (5 + 3 * (i // G) + j) % 37 + 3 for j in range(k - 1)
    ]
  valid = ids > 0
  out = jax.device_get(
      make_sampler(model, max_new_tokens=N, eos_id=2)(
          params, ids, valid, jax.random.PRNGKey(3), 1.0
      )
  )
  ro = rollout_lib.Rollout(
      seqs=rollout_lib.Sequences(
          prompt_ids=ids,
          prompt_valid=valid,
          tokens=np.asarray(out.tokens),
          mask=np.asarray(out.mask),
      ),
      rewards=REWARDS,
      truncated=TRUNCATED,
      stats=rollout_lib.RowStats(
          correct=REWARDS > 0.5,
          formatted=np.ones(B, bool),
          think_tokens=np.zeros(B, np.int32),
          thinking=np.zeros(B, bool),
          reflected=np.zeros(B, bool),
          consistency=np.zeros(B, np.float32),
      ),
  )
  mask = ro.seqs.mask
  assert mask.sum(1).min() >= 2 and (~mask).any()  # some padding.
  return model, params, ro


def _seq(seqs):
  seq = np.concatenate([seqs.prompt_ids, seqs.tokens], 1)
  valid = np.concatenate([seqs.prompt_valid, seqs.mask], 1)
  pos = np.maximum(np.cumsum(valid, 1) - 1, 0)
  return seq, valid, pos


def _logp_ent(model, params, seqs):
  """Full forward: log-prob and entropy of each completion token."""
  seq, valid, pos = _seq(seqs)
  logits = model.apply({"params": params}, seq, pos, valid)[0]
  pl = seqs.prompt_ids.shape[1]
  lp = jax.nn.log_softmax(logits[:, pl - 1 : pl - 1 + N].astype(jnp.float32))
  tok = jnp.take_along_axis(lp, seqs.tokens[..., None], -1)[..., 0]
  return tok, -(jnp.exp(lp) * lp).sum(-1)


def _values(critic, cparams, seqs):
  seq, valid, pos = _seq(seqs)
  pl = seqs.prompt_ids.shape[1]
  return critic.apply({"params": cparams}, seq, pos, valid)[
      :, pl - 1 : pl - 1 + N
  ]


def _np_gae(rewards_bt, values_bt, mask_bt, gamma, lam):
  b, t = rewards_bt.shape
  adv = np.zeros((b, t))
  for i in range(b):
    nxt = 0.0
    for j in reversed(range(t)):
      if not mask_bt[i, j]:
        continue
      v_next = values_bt[i, j + 1] if j + 1 < t and mask_bt[i, j + 1] else 0.0
      delta = rewards_bt[i, j] + gamma * v_next - values_bt[i, j]
      nxt = delta + gamma * lam * nxt
      adv[i, j] = nxt
  return adv, (adv + values_bt) * mask_bt


def _rc(**kw):
  rc = base_config().rl
  kw.setdefault("loss_reduction", "token_mean")
  rc.update(num_prompts=P, group_size=G, kl_beta=0.1, clip_eps=0.2, **kw)
  return rl_config.resolve(rc)


def _learner(model, start, rc, critic=None):
  mesh = sharding.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
  rules = base_config().logical_axis_rules
  dummy = jnp.ones((1, 8), jnp.int32)
  fns = {"policy": lambda k: model.init(k, dummy, dummy, dummy > 0)["params"]}
  if critic is not None:
    fns["critic"] = lambda k: critic.init(k, dummy, dummy, dummy > 0)["params"]
  tx = optax.multi_transform(
      {n: optax.sgd(LR[n]) for n in start}, {n: n for n in start}
  )
  state, state_sh = state_lib.create_state(
      lambda k: {n: f(k) for n, f in fns.items()},
      tx,
      jax.random.PRNGKey(0),
      mesh,
      rules,
      params=start,
  )
  sh = sharding.batch_sharding(mesh, rules)
  return (
      state,
      learner_step.make_learner_fns(
          model, critic, tx, rc, state_sh, sh, algorithm=rc.algorithm
      ),
      sh,
  )


def _minibatches(rc, rng):
  """Row order of each optimizer step: ``num_updates`` passes, each a
  fresh permutation cut into minibatches."""
  mb = min(rc.minibatch_size, B)
  out = []
  for epoch in range(rc.num_updates):
    perm = np.asarray(jax.random.permutation(jax.random.fold_in(rng, epoch), B))
    out += [perm[s : s + mb] for s in range(0, B - mb + 1, mb)]
  return out


def _sgd(loss, params, steps):
  """Plain SGD on ``{"policy": ..., "critic": ...}`` with ``LR`` per part."""
  for rows in steps:
    grads = jax.grad(loss)(params, rows)
    params = {
        n: jax.tree.map(lambda p, g, n=n: p - LR[n] * g, params[n], grads[n])
        for n in params
    }
  return params


def _rows(seqs, rows):
  return jax.tree.map(lambda x: x[rows], seqs)


def _assert_close(got, want):
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(
        np.asarray(a), np.asarray(b), atol=2e-5, rtol=2e-4
    )


@pytest.mark.parametrize(
    "advantage,mask_truncated,num_updates,minibatch,microbatches",
    [
        ("grpo", False, 2, B, 1),  # two passes: the second off-policy, clipped.
        ("grpo_skip", True, 1, B // 2, 1),  # two shuffled minibatches.
        ("grpo_skip", True, 1, B // 2, 4),  # each in 4 gradient chunks.
        ("dr_grpo", False, 1, B, 1),
    ],
)
def test_grpo_update_matches_the_reference(
    advantage, mask_truncated, num_updates, minibatch, microbatches
):
  model, params, ro = _fixture()
  ref_params = init_params(TINY, seed=5, scale=2.0)  # KL is active at once.
  rc = _rc(
      algorithm="grpo",
      advantage=advantage,
      num_updates=num_updates,
      minibatch_size=minibatch,
      microbatches=microbatches,
      mask_truncated=mask_truncated,
  )
  rng = jax.random.PRNGKey(7)

  r = REWARDS.reshape(P, G).astype(np.float64)
  centred, sd = r - r.mean(1, keepdims=True), r.std(1, keepdims=True)
  if advantage == "dr_grpo":
    adv = centred
  else:
    adv = np.where(sd > 0, centred / (sd + 1e-6), 0.0)
  m = ro.seqs.mask.copy()
  if advantage == "grpo_skip":
    m &= np.repeat(sd[:, 0] > 0, G)[:, None]
  if mask_truncated:
    m &= ~TRUNCATED[:, None]
  adv = adv.reshape(-1)
  old, _ = _logp_ent(model, params, ro.seqs)
  ref, _ = _logp_ent(model, ref_params, ro.seqs)

  def loss(p, rows):
    lp, _ = _logp_ent(model, p, _rows(ro.seqs, rows))
    ratio = jnp.exp(lp - old[rows])
    a = adv[rows][:, None]
    pg = -jnp.minimum(ratio * a, jnp.clip(ratio, 0.8, 1.2) * a)
    d = ref[rows] - lp
    per = pg + 0.1 * (jnp.exp(d) - d - 1)
    mm = m[rows]
    return (per * mm).sum() / mm.sum()

  want = _sgd(
      lambda p, rows: loss(p["policy"], rows),
      {"policy": params},
      _minibatches(rc, rng),
  )
  state, fns, sh = _learner(model, {"policy": params}, rc)
  state, metrics = learner.learn(state, ro, ref_params, fns, rc, sh, rng)
  _assert_close(state.params, want)
  if num_updates == 2:  # the second pass moved some ratios past the clip.
    assert metrics["clip_low"] + metrics["clip_high"] > 0
  assert metrics["kl"] > 0.01


@pytest.mark.parametrize(
    "whiten,microbatches,reduction",
    [
        (True, 1, "token_mean"),
        (False, 1, "token_mean"),
        (True, 2, "token_mean"),
        # The policy terms per sequence, the value and entropy terms per
        # token: each chunk weighs the two parts by their own shares.
        (True, 1, "seq_mean"),
        (True, 2, "seq_mean"),
    ],
)
def test_ppo_update_matches_the_reference(whiten, microbatches, reduction):
  model, params, ro = _fixture()
  critic = ScalarModel(TINY, head_name="value_head")
  head = {
      "kernel": 0.3 * jax.random.normal(jax.random.PRNGKey(1), (TINY.d_model,)),
      "bias": jnp.asarray(0.2),
  }
  cparams = {"model": params["model"], "value_head": head}
  ref_params = init_params(TINY, seed=5, scale=2.0)
  rc = _rc(
      algorithm="ppo",
      num_updates=2,
      minibatch_size=B // 2,
      microbatches=microbatches,
      loss_reduction=reduction,
      whiten_advantages=whiten,
      mask_truncated=True,
      gamma=0.9,
      lam=0.8,
      value_coef=0.5,
      value_clip=0.05,
      entropy_coef=0.01,
  )
  rng = jax.random.PRNGKey(11)

  mask = ro.seqs.mask
  v_old = np.asarray(_values(critic, cparams, ro.seqs), np.float64) * mask
  last = mask.sum(1) - 1
  token_r = np.zeros(mask.shape)
  token_r[np.arange(B), last] = REWARDS
  adv, returns = _np_gae(token_r, v_old, mask, 0.9, 0.8)
  if whiten:
    mu = adv[mask].mean()
    sd = np.sqrt(((adv[mask] - mu) ** 2).mean())
    adv = (adv - mu) / (sd + 1e-6) * mask
  m = mask & ~TRUNCATED[:, None]
  old, _ = _logp_ent(model, params, ro.seqs)
  ref, _ = _logp_ent(model, ref_params, ro.seqs)

  def loss(p, rows):
    sub = _rows(ro.seqs, rows)
    lp, ent = _logp_ent(model, p["policy"], sub)
    v = _values(critic, p["critic"], sub)
    mm = m[rows].astype(np.float32)
    mean = lambda x: (x * mm).sum() / mm.sum()  # pylint: disable=unnecessary-lambda-assignment

    def reduce_policy(x):
      if reduction == "token_mean":
        return mean(x)
      n = mm.sum(1)
      per_seq = (x * mm).sum(1) / np.maximum(n, 1.0)
      return per_seq.sum() / (n > 0).sum()  # sequences with tokens.

    ratio = jnp.exp(lp - old[rows])
    a = adv[rows]
    pg = -jnp.minimum(ratio * a, jnp.clip(ratio, 0.8, 1.2) * a)
    d = ref[rows] - lp
    vo, ret = v_old[rows], returns[rows]
    v_clip = vo + jnp.clip(v - vo, -0.05, 0.05)
    vl = 0.5 * jnp.maximum((v - ret) ** 2, (v_clip - ret) ** 2)
    return (
        reduce_policy(pg + 0.1 * (jnp.exp(d) - d - 1))
        + 0.5 * mean(vl)
        - 0.01 * mean(ent)
    )

  start = {"policy": params, "critic": cparams}
  want = _sgd(loss, start, _minibatches(rc, rng))
  state, fns, sh = _learner(model, start, rc, critic)
  state, _ = learner.learn(state, ro, ref_params, fns, rc, sh, rng)
  _assert_close(state.params, want)
  moved = max(
      float(jnp.abs(a - b).max())
      for a, b in zip(jax.tree.leaves(want["critic"]), jax.tree.leaves(cparams))
  )
  assert moved > 1e-3  # the critic learned too.


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
@pytest.mark.parametrize("reduction", ["token_mean", "seq_mean", "constant"])
def test_chunked_gradient_equals_the_whole_batch_gradient(reduction, algorithm):
  """``chunked_value_and_grad`` over 4 chunks = ``value_and_grad`` of the
  whole batch: loss, gradient and the metrics, for every reduction; row
  lengths differ so chunks hold different token counts, and one chunk has
  none. Under PPO the value and entropy terms stay token means (here the
  "values" are a function of the policy's log-probs, so they have a
  gradient through the same parameters)."""
  model, params, ro = _fixture()
  mask = ro.seqs.mask.copy()
  mask[:3] = False  # rows without tokens: left out of seq_mean's count.
  mask[0::4] = False  # chunk 0 (rows 0, 4, 8, ...) has no tokens at all.
  ref = np.asarray(_logp_ent(model, params, ro.seqs)[0]) - 0.1
  batch = learner_step.Batch(
      prompt_ids=jnp.asarray(ro.seqs.prompt_ids),
      prompt_valid=jnp.asarray(ro.seqs.prompt_valid),
      tokens=jnp.asarray(ro.seqs.tokens),
      mask=jnp.asarray(mask),
      old_logp=None,
      ref_logp=jnp.asarray(ref),
      adv=jnp.asarray(np.linspace(-1, 1, B), jnp.float32),
      old_values=None,
      returns=None,
  )

  def loss_fn(p, b):
    lp, ent = learner_step.completion_logprobs(
        model, p, b.prompt_ids, b.prompt_valid, b.tokens, b.mask
    )
    if algorithm == "grpo":
      value, m = losses.grpo_loss(
          lp, lp, b.ref_logp, b.adv, b.mask, kl_beta=0.3, reduction=reduction
      )
    else:
      adv = jnp.broadcast_to(b.adv[:, None], lp.shape)
      value, m = losses.ppo_loss(
          lp,
          lp,
          b.ref_logp,
          adv,
          b.mask,
          0.5 * lp,
          lp,
          b.ref_logp,
          ent,
          kl_beta=0.3,
          value_coef=2.0,
          value_clip=10.0,
          entropy_coef=0.5,
          reduction=reduction,
      )
    q = m.pop(losses.TOKEN_MEAN_PART, 0.0)
    m["entropy"] = losses.REDUCTIONS["token_mean"](ent, b.mask)
    return value, (m, q)

  (want_v, (want_m, _)), want_g = jax.value_and_grad(loss_fn, has_aux=True)(
      params, batch
  )
  (v, m), g = jax.jit(
      lambda p, b: learner_step.chunked_value_and_grad(
          loss_fn, p, b, 4, reduction
      )
  )(params, batch)
  np.testing.assert_allclose(v, want_v, rtol=1e-5)
  assert set(m) == set(want_m)
  for k in want_m:
    np.testing.assert_allclose(m[k], want_m[k], rtol=1e-5, atol=1e-7)
  assert float(jnp.abs(want_g["model"]["embed_tokens"]).max()) > 1e-3
  for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(want_g)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
  # bfloat16 parameters: chunk gradients summed in float32, returned in
  # the parameters' dtype.
  p16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
  _, g16 = jax.jit(
      lambda p, b: learner_step.chunked_value_and_grad(
          loss_fn, p, b, 4, reduction
      )
  )(p16, batch)
  _, want16 = jax.value_and_grad(loss_fn, has_aux=True)(p16, batch)
  for a, b in zip(jax.tree.leaves(g16), jax.tree.leaves(want16)):
    assert a.dtype == jnp.bfloat16
    np.testing.assert_allclose(
        np.asarray(a, np.float32), np.asarray(b, np.float32), atol=2e-2
    )
