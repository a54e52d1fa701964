"""The RL learner: log-prob passes, trimming, shaping, and short GRPO / PPO
runs on a trivially learnable reward (the fraction of even token ids)."""

from conftest import init_params
from conftest import TINY
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasoning_jax.config import base_config
from reasoning_jax.config import rl as rl_config
from reasoning_jax.models import CausalLM
from reasoning_jax.parallel import sharding
from reasoning_jax.sampling.sampler import make_sampler
from reasoning_jax.train import learner
from reasoning_jax.train import learner_step
from reasoning_jax.train import rollout as rollout_lib

P, G, N = 4, 8, 8


def _prompts():
  ids = np.zeros((P, 6), np.int32)
  for i in range(P):
    ids[i, i % 3 :] = [1] + list(range(5 + i, 5 + i + 5 - i % 3))
  return np.repeat(ids, G, 0), np.repeat(ids > 0, G, 0)


def test_completion_logprobs_equal_the_samplers():
  params = init_params(TINY, scale=3.0)
  ids, valid = _prompts()
  out = make_sampler(CausalLM(TINY), max_new_tokens=N, eos_id=2)(
      params, ids, valid, jax.random.PRNGKey(0), 1.0
  )
  logp, ent = learner_step.completion_logprobs(
      CausalLM(TINY), params, ids, valid, out.tokens, out.mask
  )
  m = np.asarray(out.mask)
  np.testing.assert_allclose(
      np.asarray(logp)[m], np.asarray(out.logprobs)[m], atol=1e-4
  )
  assert (np.asarray(ent)[m] > 0).all()


def test_trim_keeps_logprobs_of_valid_tokens():
  params = init_params(TINY, scale=3.0)
  ids, valid = _prompts()
  ids, valid = np.pad(ids, ((0, 0), (12, 0))), np.pad(valid, ((0, 0), (12, 0)))
  out = jax.device_get(
      make_sampler(CausalLM(TINY), max_new_tokens=40, eos_id=2)(
          params, ids, valid, jax.random.PRNGKey(1), 1.0
      )
  )
  lengths = np.minimum(np.arange(len(ids)) % 7 + 1, 40)
  mask = np.arange(40)[None] < lengths[:, None]  # completions of <= 7 tokens.
  seqs = rollout_lib.Sequences(
      prompt_ids=ids, prompt_valid=valid, tokens=out.tokens, mask=mask
  )
  small = learner.trim(seqs, int(valid.sum(1).max()), int(lengths.max()))
  assert small.prompt_ids.shape[1] == 8 and small.tokens.shape[1] == 8
  full, _ = learner_step.completion_logprobs(
      CausalLM(TINY), params, ids, valid, out.tokens, mask
  )
  cut, _ = learner_step.completion_logprobs(
      CausalLM(TINY),
      params,
      small.prompt_ids,
      small.prompt_valid,
      small.tokens,
      small.mask,
  )
  np.testing.assert_allclose(
      np.asarray(cut)[small.mask], np.asarray(full)[mask], atol=1e-5
  )


def test_overlong_penalty_hand_worked():
  got = rollout_lib.overlong_penalty(
      np.array([10, 48, 56, 64]), max_len=64, buffer=16
  )
  np.testing.assert_allclose(got, [0.0, 0.0, -0.5, -1.0])
  np.testing.assert_allclose(
      rollout_lib.overlong_penalty(np.array([64]), max_len=64, buffer=0), 0
  )


def test_group_has_spread():
  r = np.array([1, 1, 0, 1, 0.5, 0.5, 0, 0], np.float32)
  np.testing.assert_array_equal(
      rollout_lib.group_has_spread(r, 2), [False, True, False, False]
  )


def _rc(algorithm):
  rc = base_config().rl
  rc.update(
      algorithm=algorithm,
      num_prompts=P,
      group_size=G,
      minibatch_size=P * G,
      num_updates=2,
      learning_rate=3e-3,
      critic_lr=3e-3,
      kl_beta=0.0,
  )
  return rl_config.resolve(rc)


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_short_run_raises_a_trivially_learnable_reward(algorithm):
  """Reward = fraction of even ids among generated tokens (workload.json)."""
  rc = _rc(algorithm)
  model = CausalLM(TINY)
  mesh = sharding.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
  rules = base_config().logical_axis_rules
  state, state_sh, critic, tx = learner_step.build_learner(
      model,
      init_params(TINY),
      rc,
      mesh,
      rules,
      6 + N,
      seed=0,
      algorithm=algorithm,
  )
  assert (critic is None) == (algorithm == "grpo")
  sh = sharding.batch_sharding(mesh, rules)
  fns = learner_step.make_learner_fns(
      model, critic, tx, rc, state_sh, sh, algorithm=algorithm
  )
  ref = jax.tree.map(lambda x: x.copy(), state.params["policy"])
  sample = make_sampler(model, max_new_tokens=N, eos_id=-1)
  ids, valid = _prompts()
  means = []
  for i in range(25):
    out = jax.device_get(
        sample(state.params["policy"], ids, valid, jax.random.PRNGKey(i), 1.0)
    )
    reward = ((out.tokens % 2 == 0) & out.mask).sum(1) / N
    ro = rollout_lib.Rollout(
        seqs=rollout_lib.Sequences(
            prompt_ids=ids, prompt_valid=valid, tokens=out.tokens, mask=out.mask
        ),
        rewards=reward.astype(np.float32),
        truncated=np.zeros(len(ids), bool),
    )
    state, _ = learner.learn(state, ro, ref, fns, rc, sh, jax.random.PRNGKey(i))
    means.append(reward.mean())
  assert np.mean(means[-5:]) > np.mean(means[:5]) + 0.15, means


@pytest.fixture(scope="module")
def smoke_ctx(tmp_path_factory):
  from conftest import default_config  # pylint: disable=g-import-not-at-top

  from reasoning_jax.train import context  # pylint: disable=g-import-not-at-top

  ctx = context.build_context(
      default_config("smoke"), str(tmp_path_factory.mktemp("ctx"))
  )
  params = init_params(ctx.model.cfg, seed=0)
  return ctx, params


# Per draw, which of its 4 groups has mixed accuracy (the others are all
# wrong, or all right).
MIXED = ([True, False, True, False], [False, True, False, False], [True] * 4)


@pytest.mark.parametrize("max_draws", [4, 1])  # stops at 3 draws; runs out.
def test_dynamic_sampling_keeps_the_first_groups_with_mixed_accuracy(
    smoke_ctx, max_draws
):
  """DAPO dynamic sampling: a scripted policy answers each group all right,
  all wrong or mixed (``MIXED``); the rollout holds the first P groups (in
  draw order) with mixed accuracy and stops drawing once it has them; out
  of draws it repeats the ones it kept. Groups whose samples are all right
  are dropped although they carry reward (DAPO filters on accuracy)."""
  from reasoning_jax.sampling.sampler import SampleOutput  # pylint: disable=g-import-not-at-top

  ctx, params = smoke_ctx
  tok, n = ctx.tok, ctx.config.data.max_new_tokens
  rc = ctx.config.rl.copy_and_resolve_references()
  rc.update(
      dynamic_sampling=True,
      max_draws=max_draws,
      num_prompts=4,
      group_size=4,
      overlong_buffer=0,
  )
  rc = rl_config.resolve(rc)
  stream = [ctx.task.example("train", 1000 + i) for i in range(16)]
  draws = []

  def scripted(params, ids, valid, key, temperature):
    del params, ids, valid, key, temperature
    d = len(draws)
    comp = np.zeros((16, n), np.int32)
    for row in range(16):
      g, i = divmod(row, 4)
      ex = stream[4 * d + g]
      right = (i % 2 == 0) if MIXED[d][g] else (d + g) % 2 == 1
      text = f"\\boxed{{{ex.answer if right else 1000}}}"
      ids_ = (tok.encode(text) + [tok.eos_id])[:n]
      comp[row, : len(ids_)] = ids_
    draws.append(comp)
    return SampleOutput(
        jnp.asarray(comp),
        jnp.zeros(comp.shape),
        jnp.asarray(comp != 0),
        jnp.asarray((comp != 0).sum(1)),
    )

  ro, drawn = rollout_lib.rollout(
      ctx,
      params,
      scripted,
      lambda start, k: stream[start : start + k],
      jax.random.PRNGKey(4),
      rc=rc,
  )
  kept = [
      draws[d][4 * g : 4 * g + 4]
      for d in range(len(draws))
      for g in range(4)
      if MIXED[d][g]
  ]
  want_draws = 3 if max_draws == 4 else 1
  assert drawn.draws == len(draws) == want_draws
  assert drawn.consumed == 4 * want_draws
  want = [kept[i % len(kept)] for i in range(4)]  # repeated if short.
  np.testing.assert_array_equal(ro.seqs.tokens, np.concatenate(want))
  acc = ro.stats.correct.reshape(4, 4)
  assert (acc.max(1) > acc.min(1)).all()


def test_dapo_overlong_buffer_fits_the_task(tmp_path):
  """``overlong_buffer=-1`` (DAPO's preset): no reference solution of the
  RL prompts is penalised, and a completion that fills the budget is."""
  from conftest import load_config  # pylint: disable=g-import-not-at-top

  from reasoning_jax.train import context  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import rl  # pylint: disable=g-import-not-at-top

  c = load_config("default", "smoke")
  c.rl.algorithm = "dapo"
  c.rl.overlong_buffer = None  # the smoke config's 16: back to the preset.
  ctx = context.build_context(c, str(tmp_path))
  rc = rl.rl_section(ctx)
  assert rl_config.resolve(c.rl).overlong_buffer == -1
  budget = c.data.max_new_tokens
  assert 0 < rc.overlong_buffer < budget
  lengths = np.asarray([
      len(ctx.tok.encode(ctx.fresh_example(i).solution)) + 1 for i in range(512)
  ])
  pen = np.asarray(
      rollout_lib.overlong_penalty(
          lengths, max_len=budget, buffer=rc.overlong_buffer
      )
  )
  assert (pen == 0).all()
  full = rollout_lib.overlong_penalty(
      np.asarray([budget]), max_len=budget, buffer=rc.overlong_buffer
  )
  assert float(np.asarray(full)[0]) < 0
