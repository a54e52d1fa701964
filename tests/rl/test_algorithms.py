"""The algorithm table: each entry's preparation against NumPy formulas, and
a new algorithm added as one entry, trained end to end by the learner."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasoning_jax.rl import advantages
from reasoning_jax.rl import algorithms

B, G, T = 6, 3, 5
REWARDS = np.array([1.0, 0.0, 0.5, 0.2, 0.2, 0.2], np.float32)
LENGTHS = np.array([5, 2, 3, 1, 4, 5])
VALID = np.arange(T)[None] < LENGTHS[:, None]


def _settings(**kw):
  s = dict(
      advantage="grpo",
      std_floor=0.1,
      gamma=0.9,
      lam=0.8,
      whiten_advantages=False,
      prm_mode="sequence",
      prm_weight=0.0,
      clip_eps=0.2,
      clip_eps_high=0.0,
      kl_beta=0.0,
      loss_reduction="token_mean",
      value_coef=0.5,
      value_clip=0.2,
      entropy_coef=0.0,
      max_tokens=None,
  )
  s.update(kw)
  return algorithms.Settings(**s)


def _inputs(values=None, steps=None):
  return algorithms.PrepareInputs(
      rewards_b=REWARDS,
      lengths_b=LENGTHS,
      valid_bt=jnp.asarray(VALID),
      values_bt=values,
      steps=steps,
      group_size=G,
      to_global=jnp.asarray,
  )


def test_every_entry_is_complete_and_the_config_reads_the_table():
  from reasoning_jax.config import base_config  # pylint: disable=g-import-not-at-top
  from reasoning_jax.config import ConfigError  # pylint: disable=g-import-not-at-top
  from reasoning_jax.config import validate  # pylint: disable=g-import-not-at-top

  for name, alg in algorithms.ALGORITHMS.items():
    assert callable(alg.prepare_fn) and callable(alg.loss_fn), name
    c = base_config()
    c.rl.algorithm = name
    validate(c)
  c = base_config()
  c.rl.algorithm = "nope"
  with pytest.raises(ConfigError, match="rl.algorithm"):
    validate(c)


def test_group_preparation_is_numpy_group_normalisation():
  a = algorithms.prepare_group(_inputs(), _settings(advantage="grpo_skip"))
  r = REWARDS.reshape(-1, G).astype(np.float64)
  sd = r.std(1, keepdims=True)
  want = np.where(sd > 0, (r - r.mean(1, keepdims=True)) / (sd + 1e-6), 0)
  np.testing.assert_allclose(a.adv, want.reshape(-1), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(a.keep_b, np.repeat(sd[:, 0] > 0, G))
  assert a.returns_bt is None
  assert a.stats["adv_abs_max"] == pytest.approx(np.abs(want).max(), 1e-5)


def test_token_rewards_put_the_reward_on_the_last_token_and_prm_steps():
  steps = algorithms.StepRewards(
      scores_bs=np.full((B, 2), 0.5, np.float32),
      pos_bs=np.array([[0, 3]] * B, np.int32),
      valid_bs=np.array([[True, False]] * B),
  )
  got = algorithms.token_rewards(
      _inputs(steps=steps), _settings(prm_mode="step", prm_weight=2.0)
  )
  want = np.zeros((B, T), np.float32)
  want[np.arange(B), LENGTHS - 1] += REWARDS
  want[:, 0] += 1.0  # 2.0 × 0.5 at each valid step's boundary.
  np.testing.assert_allclose(got, want)


def _np_gae(r, v, m, gamma, lam):
  adv = np.zeros_like(r)
  for i in range(r.shape[0]):
    nxt = 0.0
    for j in reversed(range(r.shape[1])):
      if not m[i, j]:
        continue
      v_next = v[i, j + 1] if j + 1 < r.shape[1] and m[i, j + 1] else 0.0
      nxt = r[i, j] + gamma * v_next - v[i, j] + gamma * lam * nxt
      adv[i, j] = nxt
  return adv, (adv + v) * m


@pytest.mark.parametrize("whiten", [False, True])
def test_gae_preparation_is_numpy_gae_and_whitening(whiten):
  v = np.random.default_rng(0).normal(size=(B, T)).astype(np.float32) * VALID
  a = algorithms.prepare_gae(
      _inputs(values=jnp.asarray(v)), _settings(whiten_advantages=whiten)
  )
  r = np.zeros((B, T))
  r[np.arange(B), LENGTHS - 1] = REWARDS
  adv, ret = _np_gae(r, v.astype(np.float64), VALID, 0.9, 0.8)
  np.testing.assert_allclose(a.returns_bt, ret, rtol=1e-5, atol=1e-6)
  mu = adv[VALID].mean()
  sd = adv[VALID].std()
  assert a.stats["adv_mean"] == pytest.approx(mu, abs=1e-5)
  assert a.stats["adv_std"] == pytest.approx(sd, rel=1e-5)
  if whiten:
    adv = (adv - mu) / (sd + 1e-6) * VALID
  np.testing.assert_allclose(a.adv, adv, rtol=1e-4, atol=1e-5)
  assert a.keep_b is None


def test_masked_mean_std_is_numpy_over_the_mask():
  x = np.random.default_rng(1).normal(size=(3, 7)).astype(np.float32)
  m = np.random.default_rng(2).random((3, 7)) < 0.6
  mu, sd = advantages.masked_mean_std(jnp.asarray(x), jnp.asarray(m))
  assert float(mu) == pytest.approx(x[m].mean(), rel=1e-5)
  assert float(sd) == pytest.approx(x[m].std(), rel=1e-5)
  mu, sd = advantages.masked_mean_std(jnp.asarray(x), jnp.asarray(m), axis=1)
  for i in range(3):
    assert float(mu[i, 0]) == pytest.approx(x[i][m[i]].mean(), rel=1e-5)
    assert float(sd[i, 0]) == pytest.approx(x[i][m[i]].std(), rel=1e-5)


def _leave_one_out(x: algorithms.PrepareInputs, s: algorithms.Settings):
  """A toy third algorithm for the test: REINFORCE with a leave-one-out
  group baseline, A_i = r_i − mean_{j≠i} r_j (no std)."""
  del s
  r = x.rewards_b.reshape(-1, x.group_size).astype(np.float32)
  g = x.group_size
  adv = (r - (r.sum(1, keepdims=True) - r) / (g - 1)).reshape(-1)
  return algorithms.Advantages(
      adv=x.to_global(adv), keep_b=None, returns_bt=None, stats={}
  )


def _reinforce_loss(x: algorithms.LossInputs, s: algorithms.Settings):
  del s
  m = x.mask_bt.astype(jnp.float32)
  per = -x.adv[:, None] * x.logp_bt
  return (per * m).sum() / jnp.maximum(m.sum(), 1.0), {}


def test_a_new_algorithm_is_one_table_entry(monkeypatch):
  """Registering one ``Algorithm`` (its own two pure functions) is all the
  learner needs: the config accepts the name, the learner state, jitted step
  and preparation follow the record, and a step moves the policy."""
  from conftest import init_params  # pylint: disable=g-import-not-at-top
  from conftest import TINY  # pylint: disable=g-import-not-at-top

  from reasoning_jax.config import base_config  # pylint: disable=g-import-not-at-top
  from reasoning_jax.config import rl as rl_config  # pylint: disable=g-import-not-at-top
  from reasoning_jax.config import validate  # pylint: disable=g-import-not-at-top
  from reasoning_jax.models import CausalLM  # pylint: disable=g-import-not-at-top
  from reasoning_jax.parallel import sharding  # pylint: disable=g-import-not-at-top
  from reasoning_jax.sampling.sampler import make_sampler  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import learner  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import learner_step  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import rollout as rollout_lib  # pylint: disable=g-import-not-at-top

  monkeypatch.setitem(
      algorithms.ALGORITHMS,
      "loo",
      algorithms.Algorithm(
          prepare_fn=_leave_one_out,
          loss_fn=_reinforce_loss,
          trains_critic=False,
          defaults={},
          paper="a test's own",
      ),
  )
  c = base_config()
  c.rl.update(
      algorithm="loo", num_prompts=2, group_size=G, minibatch_size=2 * G
  )
  validate(c)
  rc, model = rl_config.resolve(c.rl), CausalLM(TINY)
  mesh = sharding.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
  rules = c.logical_axis_rules
  params = init_params(TINY, scale=2.0)
  state, state_sh, critic, tx = learner_step.build_learner(
      model, params, rc, mesh, rules, 4 + T, 0, algorithm="loo"
  )
  assert critic is None and set(state.params) == {"policy"}
  sh = sharding.batch_sharding(mesh, rules)
  fns = learner_step.make_learner_fns(
      model, critic, tx, rc, state_sh, sh, algorithm="loo"
  )
  ids = np.tile(np.array([[1, 5, 6, 7]], np.int32), (2 * G, 1))
  out = jax.device_get(
      make_sampler(model, max_new_tokens=T, eos_id=-1)(
          params, ids, ids > 0, jax.random.PRNGKey(0), 1.0
      )
  )
  ro = rollout_lib.Rollout(
      seqs=rollout_lib.Sequences(
          prompt_ids=ids, prompt_valid=ids > 0, tokens=out.tokens, mask=out.mask
      ),
      rewards=REWARDS,
      truncated=np.zeros(B, bool),
  )
  ref = learner_step.reference_copy(state, state_sh)
  before = jax.tree.map(np.asarray, state.params["policy"])
  state, m = learner.learn(state, ro, ref, fns, rc, sh, jax.random.PRNGKey(1))
  moved = max(
      float(np.abs(np.asarray(a) - b).max())
      for a, b in zip(
          jax.tree.leaves(state.params["policy"]), jax.tree.leaves(before)
      )
  )
  assert moved > 0 and np.isfinite(float(m["loss"]))
