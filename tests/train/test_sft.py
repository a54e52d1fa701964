"""SFT loss, the non-finite guard, the data order and the jitted step."""

from conftest import init_params
from conftest import TINY
import jax
import jax.numpy as jnp
import numpy as np
import optax

from reasoning_jax.models import CausalLM
from reasoning_jax.train import sft
from reasoning_jax.train import state as state_lib
from reasoning_jax.train.state import TrainState


def _np_loss(logits, targets, mask):
  z = logits - logits.max(-1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  nll = [
      -logp[b, t, targets[b, t]]
      for b in range(targets.shape[0])
      for t in range(targets.shape[1])
      if mask[b, t]
  ]
  return np.mean(nll)


def test_sft_loss_matches_loop_reference_and_ignores_masked_logits():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 5, 7)).astype(np.float32)
  targets = rng.integers(0, 7, (3, 5))
  mask = rng.random((3, 5)) > 0.4
  loss, m = jax.jit(sft.sft_loss)(logits, targets, mask)
  np.testing.assert_allclose(loss, _np_loss(logits, targets, mask), rtol=1e-5)
  assert float(m["tokens"]) == mask.sum()
  changed = np.where(mask[..., None], logits, 1e3 * rng.normal(size=7))
  np.testing.assert_allclose(
      sft.sft_loss(changed, targets, mask)[0], loss, rtol=1e-6
  )


def test_hand_worked_loss():
  # Uniform logits over 4 classes: loss = log 4 whatever the target.
  loss, m = sft.sft_loss(
      jnp.zeros((1, 2, 4)), jnp.array([[1, 3]]), jnp.array([[True, False]])
  )
  np.testing.assert_allclose(loss, np.log(4.0), rtol=1e-6)
  assert float(m["token_acc"]) == 0.0  # argmax of a tie is 0, target 1.


def _state(params, tx):
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=tx.init(params),
      rng=jax.random.PRNGKey(0),
      data_position=jnp.zeros((), jnp.int32),
  )


def test_non_finite_loss_never_reaches_params():
  params = {"w": jnp.ones(3)}
  tx = optax.adam(0.1)
  state = _state(params, tx)
  bad, m = state_lib.guarded_update(
      state, {"w": jnp.array([1.0, jnp.nan, 0.0])}, tx, jnp.float32(1.0)
  )
  np.testing.assert_array_equal(bad.params["w"], params["w"])
  assert float(m["skipped"]) == 1.0 and int(bad.step) == 1
  good, m = state_lib.guarded_update(
      state, {"w": jnp.ones(3)}, tx, jnp.float32(1.0)
  )
  np.testing.assert_allclose(good.params["w"], 0.9 * np.ones(3), rtol=1e-5)
  assert float(m["skipped"]) == 0.0
  inf_loss, _ = state_lib.guarded_update(
      state, {"w": jnp.ones(3)}, tx, jnp.float32(jnp.inf)
  )
  np.testing.assert_array_equal(inf_loss.params["w"], params["w"])


def test_batch_indices_cover_each_example_once_per_epoch():
  n, b = 10, 4
  seen = np.concatenate(
      [sft.batch_indices(p, b, n, 0) for p in range(0, 20, b)]
  )
  assert sorted(seen[:10]) == list(range(10))
  assert sorted(seen[10:]) == list(range(10))
  assert not np.array_equal(seen[:10], seen[10:])  # reshuffled.
  np.testing.assert_array_equal(sft.batch_indices(8, 4, n, 0), seen[8:12])


def test_sft_step_lowers_loss_on_a_fixed_batch():
  model, tx = CausalLM(TINY), optax.adam(3e-3)
  state = _state(init_params(TINY), tx)
  step = jax.jit(lambda s, i, m: sft.sft_step(s, i, m, model=model, tx=tx))
  ids = np.tile(np.array([[1, 5, 6, 7, 8, 9, 2, 0]], np.int32), (4, 1))
  mask = np.zeros_like(ids, bool)
  mask[:, 3:7] = True
  losses = []
  for _ in range(30):
    state, m = step(state, ids, mask)
    losses.append(float(m["loss"]))
  assert losses[-1] < 0.2 * losses[0]
  assert int(state.data_position) == 4 * 30
