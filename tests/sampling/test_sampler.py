"""The jitted KV-cache sampler against full forward passes without cache."""

from conftest import init_params
from conftest import TINY
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasoning_jax.models import CausalLM
from reasoning_jax.sampling.sampler import filter_logits
from reasoning_jax.sampling.sampler import make_sampler
from reasoning_jax.sampling.sampler import positions_from_valid
from reasoning_jax.sampling.sampler import sample_categorical

N = 6


def _prompts():
  """Three prompts of lengths 5, 2 and 4, left-padded to 5 slots."""
  ids = np.array(
      [[1, 7, 8, 9, 10], [0, 0, 0, 1, 11], [0, 1, 12, 13, 14]], np.int32
  )
  return ids, ids > 0


def _full_logits(params, seqs):
  """Logits of full forward passes over unpadded sequences, no cache."""
  out = []
  for s in seqs:
    s = jnp.asarray(s)[None]
    v = jnp.ones_like(s, bool)
    logits, _, _ = CausalLM(TINY).apply(
        {"params": params}, s, positions_from_valid(v), v
    )
    out.append(np.asarray(logits[0]))
  return out


@pytest.fixture(scope="module")
def params():
  return init_params(TINY, scale=4.0)


def test_greedy_equals_stepwise_argmax_without_cache(params):
  ids, valid = _prompts()
  out = make_sampler(CausalLM(TINY), max_new_tokens=N, greedy=True, eos_id=-1)(
      params, ids, valid, jax.random.PRNGKey(0)
  )
  for b in range(3):
    seq = list(ids[b][valid[b]])
    for _ in range(N):  # reference: argmax of a fresh full forward each step.
      seq.append(int(np.argmax(_full_logits(params, [seq])[0][-1])))
    np.testing.assert_array_equal(np.asarray(out.tokens[b]), seq[-N:])


def test_logprobs_equal_full_forward_log_softmax(params):
  ids, valid = _prompts()
  sample = make_sampler(
      CausalLM(TINY), max_new_tokens=N, eos_id=-1, top_k=10, top_p=0.9
  )
  out = sample(params, ids, valid, jax.random.PRNGKey(3), 0.7)
  for b in range(3):
    seq = np.concatenate([ids[b][valid[b]], np.asarray(out.tokens[b])])
    logits = _full_logits(params, [seq])[0]
    logp = jax.nn.log_softmax(logits, -1)
    p = int(valid[b].sum())
    want = [logp[p - 1 + t, seq[p + t]] for t in range(N)]
    np.testing.assert_allclose(np.asarray(out.logprobs[b]), want, atol=1e-4)


def test_same_key_same_output_and_keys_differ(params):
  ids, valid = _prompts()
  sample = make_sampler(CausalLM(TINY), max_new_tokens=N, eos_id=-1)
  a = sample(params, ids, valid, jax.random.PRNGKey(5), 1.0)
  b = sample(params, ids, valid, jax.random.PRNGKey(5), 1.0)
  c = sample(params, ids, valid, jax.random.PRNGKey(6), 1.0)
  np.testing.assert_array_equal(a.tokens, b.tokens)
  assert not np.array_equal(a.tokens, c.tokens)


def test_stop_token_ends_each_sequence_separately(params):
  ids, valid = _prompts()
  greedy = make_sampler(
      CausalLM(TINY), max_new_tokens=N, greedy=True, eos_id=-1
  )(params, ids, valid, jax.random.PRNGKey(0))
  stop = int(greedy.tokens[0, 2])  # make row 0's third token a stop id.
  out = make_sampler(
      CausalLM(TINY),
      max_new_tokens=N,
      greedy=True,
      eos_id=-1,
      stop_ids=(stop,),
      pad_id=0,
  )(params, ids, valid, jax.random.PRNGKey(0))
  for b in range(3):
    row = list(np.asarray(greedy.tokens[b]))
    n = row.index(stop) + 1 if stop in row else N
    assert int(out.lengths[b]) == n
    np.testing.assert_array_equal(out.tokens[b, :n], row[:n])
    assert not np.asarray(out.mask[b, n:]).any()
    assert (np.asarray(out.tokens[b, n:]) == 0).all()
    assert (np.asarray(out.logprobs[b, n:]) == 0).all()


def _np_filter(z, k, p):
  z = np.array(z, np.float64)
  if k:
    z[z < np.sort(z)[-k]] = -np.inf
  if p < 1:
    order = np.argsort(-z)
    probs = np.exp(z[order] - z[order][0])
    probs /= probs.sum()
    keep, mass = [], 0.0
    for i, q in zip(order, probs):
      keep.append(i)
      mass += q
      if mass >= p:
        break
    z[[i for i in range(len(z)) if i not in keep]] = -np.inf
  return z


@pytest.mark.parametrize(
    "k,p", [(0, 1.0), (3, 1.0), (0, 0.5), (4, 0.8), (1, 1.0), (0, 0.05)]
)
def test_filter_logits_matches_loop_reference(k, p):
  z = np.random.default_rng(0).normal(size=(4, 12)) * 2
  got = np.asarray(filter_logits(jnp.asarray(z, jnp.float32), top_k=k, top_p=p))
  for row, g in zip(z, got):
    want = _np_filter(row, k, p)
    np.testing.assert_array_equal(np.isfinite(g), np.isfinite(want))


def test_top_k_one_is_greedy(params):
  ids, valid = _prompts()
  g = make_sampler(CausalLM(TINY), max_new_tokens=N, greedy=True, eos_id=-1)(
      params, ids, valid, jax.random.PRNGKey(0)
  )
  k1 = make_sampler(CausalLM(TINY), max_new_tokens=N, top_k=1, eos_id=-1)(
      params, ids, valid, jax.random.PRNGKey(9), 1.3
  )
  np.testing.assert_array_equal(g.tokens, k1.tokens)


@pytest.mark.parametrize("method", ["inverse_cdf", "gumbel"])
def test_sample_categorical_frequencies_match_softmax(method):
  """4,000 draws per row against the exact softmax probabilities."""
  logits = jnp.asarray(
      [
          [2.0, 1.0, 0.0, -1.0, -jnp.inf],
          [0.0, 0.0, 0.0, 0.0, 0.0],
          [-jnp.inf, 5.0, -jnp.inf, 4.0, 0.5],
      ],
      jnp.float32,
  )
  n = 4000
  keys = jax.random.split(jax.random.PRNGKey(0), n)
  draws = np.asarray(
      jax.vmap(lambda k: sample_categorical(k, logits, method))(keys)
  )
  p = np.exp(np.asarray(logits, np.float64) - np.max(logits, -1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  for row in range(3):
    freq = np.bincount(draws[:, row], minlength=5) / n
    # sigma <= sqrt(0.25 / 4000) = 0.008; zero-probability ids never drawn.
    np.testing.assert_allclose(freq, p[row], atol=0.03)
    assert freq[p[row] == 0].sum() == 0


def test_prefix_sharing_gives_the_unshared_output(params):
  """group_size=G prefills each group's prompt once; same tokens/log-probs."""
  ids, valid = _prompts()
  ids, valid = np.repeat(ids, 4, 0), np.repeat(valid, 4, 0)
  kw = dict(max_new_tokens=N, eos_id=2)
  want = make_sampler(CausalLM(TINY), **kw)(
      params, ids, valid, jax.random.PRNGKey(3), 1.0
  )
  got = make_sampler(CausalLM(TINY), group_size=4, **kw)(
      params, ids, valid, jax.random.PRNGKey(3), 1.0
  )
  np.testing.assert_array_equal(got.tokens, want.tokens)
  np.testing.assert_array_equal(got.mask, want.mask)
  np.testing.assert_allclose(got.logprobs, want.logprobs, atol=1e-5)
  assert len(set(map(tuple, np.asarray(got.tokens)))) > 3  # samples differ.


def test_force_budget_step_function_hand_worked():
  """Scripted picks through the step function: rows 0/1 close early (t=1)
  and get "W1 W2" in its place; row 2 closes at t=3 >= min; cap at t=5."""
  from reasoning_jax.sampling.sampler import Budget  # pylint: disable=g-import-not-at-top
  from reasoning_jax.sampling.sampler import force_budget

  close, w1, w2 = 9, 20, 21
  budget = Budget(close_id=close, wait=(w1, w2), min_think=3, max_think=5)
  picks = np.asarray([
      [5, close, 6, 7, 8, 8, close],
      [5, close, close, close, 8, 8, 8],
      [5, 6, 7, close, 8, 8, 8],
  ])
  want = np.asarray([
      [5, w1, w2, 7, 8, close, close],
      [5, w1, w2, close, 8, 8, 8],
      [5, 6, 7, close, 8, 8, 8],
  ])
  forced = jnp.full((3,), -1, jnp.int32)
  closed = jnp.zeros((3,), bool)
  got = []
  for t in range(picks.shape[1]):
    tok, forced, closed = force_budget(
        jnp.asarray(picks[:, t]), t, forced, closed, budget
    )
    got.append(np.asarray(tok))
  np.testing.assert_array_equal(np.stack(got, 1), want)


def test_budget_forcing_in_the_jitted_sampler(params):
  """Take the token greedy decoding emits at step 1 as the "close" token:
  with min_think=4 it is replaced by the wait tokens at steps 1 and 2; with
  max_think=3 the close token is forced at step 3."""
  from reasoning_jax.sampling.sampler import Budget  # pylint: disable=g-import-not-at-top

  ids, valid = _prompts()
  kw = dict(max_new_tokens=N, eos_id=-1, greedy=True)
  plain = make_sampler(CausalLM(TINY), **kw)(
      params, ids, valid, jax.random.PRNGKey(0), 1.0
  )
  close = int(plain.tokens[0, 1])
  w = (close + 1) % TINY.vocab_size, (close + 2) % TINY.vocab_size
  low = make_sampler(
      CausalLM(TINY), budget=Budget(close, w, min_think=4), **kw
  )(params, ids, valid, jax.random.PRNGKey(0), 1.0)
  t = np.asarray(low.tokens)
  np.testing.assert_array_equal(t[0, :3], [plain.tokens[0, 0], *w])
  assert not (t[:, :4] == close).any()  # no close before the minimum.
  cap = make_sampler(CausalLM(TINY), budget=Budget(close, max_think=3), **kw)(
      params, ids, valid, jax.random.PRNGKey(0), 1.0
  )
  c = np.asarray(cap.tokens)
  first = [row.tolist().index(close) for row in c]
  assert max(first) <= 3 and (c[:, 3] == close).sum() >= 1
  for row, p in zip(c, np.asarray(plain.tokens)):  # same up to closing.
    k = row.tolist().index(close)
    np.testing.assert_array_equal(row[:k], p[:k])


@pytest.mark.parametrize("chunk", [2, 4])
def test_decode_chunk_gives_the_per_token_loop_output(params, chunk):
  """k decode steps per loop check (N = 6 not a multiple of 4: the padded
  steps past N are masked) leave tokens, log-probs, masks and lengths as
  the per-token loop has them, with a stop token ending rows early."""
  import dataclasses  # pylint: disable=g-import-not-at-top

  ids, valid = _prompts()
  ids, valid = np.repeat(ids, 3, 0), np.repeat(valid, 3, 0)
  want = make_sampler(CausalLM(TINY), max_new_tokens=N, eos_id=-1)(
      params, ids, valid, jax.random.PRNGKey(7), 1.0
  )
  stop = int(want.tokens[0, 2])
  kw = dict(max_new_tokens=N, eos_id=-1, stop_ids=(stop,))
  want = make_sampler(CausalLM(TINY), **kw)(
      params, ids, valid, jax.random.PRNGKey(7), 1.0
  )
  got = make_sampler(
      CausalLM(dataclasses.replace(TINY, decode_chunk=chunk)), **kw
  )(params, ids, valid, jax.random.PRNGKey(7), 1.0)
  assert got.tokens.shape == (9, N)
  assert int(want.lengths.min()) < N  # some rows stopped early.
  for a, b in zip(got, want):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_temperature_sets_the_first_token_distribution(params):
  """4,000 samples of the first new token of one prompt at T = 0.5 and 2:
  their frequencies match softmax(z / T) of a full forward pass, and the
  two distributions differ (temperature reaches the sampler)."""
  ids, valid = _prompts()
  n = 4000
  ids, valid = np.repeat(ids[:1], n, 0), np.repeat(valid[:1], n, 0)
  z = np.asarray(_full_logits(params, ids[:1])[0], np.float64)[-1]
  sample = make_sampler(CausalLM(TINY), max_new_tokens=1, eos_id=-1)
  freqs = {}
  for t in (0.5, 2.0):
    out = sample(params, ids, valid, jax.random.PRNGKey(5), t)
    freqs[t] = (
        np.bincount(np.asarray(out.tokens)[:, 0], minlength=TINY.vocab_size) / n
    )
    p = np.exp((z - z.max()) / t)
    p /= p.sum()
    np.testing.assert_allclose(freqs[t], p, atol=0.03)  # sigma <= 0.008.
  assert 0.5 * np.abs(freqs[0.5] - freqs[2.0]).sum() > 0.1
