"""One jit-compiled, batched KV-cache sampler.

Dimensions: B sequences, L prompt slots (left-padded), T new tokens, V vocab.

Prompts of different lengths share a batch by left padding: every prompt ends
at slot L-1, so all sequences write the same cache slot at each decode step,
while RoPE positions count real tokens only. Prefill is one forward pass; the
decode loop is a ``lax.while_loop`` inside the same jit (no Python per token)
that stops early once every sequence has emitted a stop token; with
``ModelConfig.decode_chunk`` = k it checks that once per k tokens, running k
steps in a fixed-trip-count inner loop (an accelerator then waits on the host
once per k tokens instead of once per token).

Returned log-probs are those of the *model* (log-softmax of raw logits, i.e.
temperature 1, no filtering) at the chosen tokens: the quantity RL ratios and
KL terms need, whatever sampling distribution picked the token.
"""

import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from reasoning_jax.models import CausalLM
from reasoning_jax.models import init_cache
from reasoning_jax.models import KVCache
from reasoning_jax.models import positions_from_valid
from reasoning_jax.parallel import sharding


class SampleOutput(NamedTuple):
  tokens: jax.Array  # [B, T] int32 completion ids, pad_id after the stop.
  logprobs: jax.Array  # [B, T] float32 model log-prob of each token.
  mask: jax.Array  # [B, T] bool, True on generated tokens (stop included).
  lengths: jax.Array  # [B] int32, number of generated tokens.


def filter_logits(logits_bv, *, top_k: int = 0, top_p: float = 1.0):
  """Keeps the top-k logits and the smallest nucleus of mass >= top_p.

  Filtered entries become -inf. top_k=0 and top_p=1 disable each filter.
  """
  neg = jnp.full_like(logits_bv, -jnp.inf)
  if top_k > 0:
    kth = jax.lax.top_k(logits_bv, top_k)[0][:, -1:]
    logits_bv = jnp.where(logits_bv >= kth, logits_bv, neg)
  if top_p < 1.0:
    srt = jnp.sort(logits_bv, axis=-1)[:, ::-1]
    probs = jax.nn.softmax(srt, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass strictly above.
    cut = jnp.min(
        jnp.where(before < top_p, srt, jnp.inf), axis=-1, keepdims=True
    )
    logits_bv = jnp.where(logits_bv >= cut, logits_bv, neg)
  return logits_bv


def sample_categorical(key, logits_bv, method: str = "auto"):
  """One draw per row from softmax(logits).

  ``inverse_cdf``: with u ~ U(0, 1] per row and c_i = Σ_{j<=i} p_j the token
  is the first i with c_i >= u · c_V; one uniform per row instead of the V
  Gumbel variates of ``jax.random.categorical`` (on CPU, random bits are
  the costly part of a decode step's sampling), and a token of
  probability 0 (a -inf logit) is never drawn. ``gumbel``: argmax of
  logits + Gumbel noise, one parallel pass over V; on GPU/TPU it beats the
  prefix sum, whose scan reads the [B, V] logits log2(V) times (measured in
  BENCHMARKS.md). ``auto``: inverse_cdf on CPU, gumbel elsewhere. Both draw
  exactly from softmax(logits); the same key gives different tokens.
  """
  b, _ = logits_bv.shape
  if method == "auto":
    method = "inverse_cdf" if jax.default_backend() == "cpu" else "gumbel"
  if method == "gumbel":
    return jax.random.categorical(
        key, logits_bv.astype(jnp.float32), axis=-1
    ).astype(jnp.int32)
  assert method == "inverse_cdf", method
  p = jax.nn.softmax(logits_bv.astype(jnp.float32), axis=-1)
  cdf = jnp.cumsum(p, axis=-1)
  u = 1.0 - jax.random.uniform(key, (b, 1), jnp.float32)  # (0, 1].
  return jnp.sum(cdf < u * cdf[:, -1:], axis=-1).astype(jnp.int32)


class Budget(NamedTuple):
  """s1 budget forcing (Muennighoff et al. 2025), in generated tokens.

  ``close_id``: the token that ends thinking (``</think>``). Below
  ``min_think`` tokens a sampled ``close_id`` is replaced by the ``wait``
  tokens (e.g. the ids of "\nWait"), one per step, and decoding goes on; at
  ``max_think`` (0: no cap) ``close_id`` is forced unless thinking already
  ended. All static.
  """

  close_id: int
  wait: tuple[int, ...] = ()
  min_think: int = 0
  max_think: int = 0


def force_budget(tok_b, t, forced_b, closed_b, budget: Budget):
  """One decode step of budget forcing: ``(tok, forced, closed)`` after it.

  ``t`` is the step (tokens generated so far), ``forced`` the next index
  into ``budget.wait`` per row (-1: not forcing), ``closed`` whether the row
  already ended thinking.
  """
  wait = jnp.asarray(budget.wait or (budget.close_id,), jnp.int32)
  n_wait = len(budget.wait)
  in_wait = forced_b >= 0
  tok = jnp.where(in_wait, wait[jnp.maximum(forced_b, 0)], tok_b)
  forced = jnp.where(in_wait & (forced_b + 1 < n_wait), forced_b + 1, -1)
  if budget.min_think > 0 and n_wait:
    early = (
        ~in_wait & ~closed_b & (tok == budget.close_id) & (t < budget.min_think)
    )
    tok = jnp.where(early, wait[0], tok)
    forced = jnp.where(early, 1 if n_wait > 1 else -1, forced)
  if budget.max_think > 0:
    cap = ~closed_b & (t >= budget.max_think)
    tok = jnp.where(cap, budget.close_id, tok)
    forced = jnp.where(cap, -1, forced)
  return tok, forced, closed_b | (tok == budget.close_id)


class Carry(NamedTuple):
  """The decode loop's state."""

  t: jax.Array  # [] the step.
  logits: jax.Array  # [B, V] logits for the token at step t.
  cache: KVCache
  done: jax.Array  # [B] bool
  out: SampleOutput
  rng: jax.Array
  forced: jax.Array  # [B] int32, next index into budget.wait (-1: none).
  closed: jax.Array  # [B] bool, the think block has been closed.


def _compute_weights(model: CausalLM, params) -> dict:
  """``{"params": ...}`` with the matrices cast to the compute dtype once,
  not in every decode step: the loop then reads bf16 weights (half the
  bytes of float32 master weights)."""
  dt = model.cfg.compute_dtype
  return {
      "params": jax.tree.map(
          lambda x: x.astype(dt)
          if x.ndim >= 2 and jnp.issubdtype(x.dtype, jnp.floating)
          else x,
          params,
      )
  }


def _prefill(
    model: CausalLM,
    variables,
    prompt_bl,
    prompt_valid_bl,
    group_size: int,
    slots: int,
):
  """One forward pass over each group's prompt: (logits [B, V] for the
  first new token, a KV cache of ``slots`` positions); with G > 1 the
  prompt of rows ``g*G ..`` is run once and its cache repeated G times."""
  b, pl = prompt_bl.shape
  first = prompt_bl[::group_size], prompt_valid_bl[::group_size]
  logits, _, cache = model.apply(
      variables,
      first[0],
      positions_from_valid(first[1]),
      first[1],
      init_cache(model.cfg, b // group_size, slots),
      logits_slice=(pl - 1, 1),
  )
  if group_size > 1:
    logits, cache = jax.tree.map(
        lambda x: jnp.repeat(x, group_size, axis=0) if x.ndim else x,
        (logits, cache),
    )
  return logits[:, -1], cache


def _pin(cache: KVCache, cache_sharding) -> KVCache:
  """The cache constrained to ``cache_sharding`` (None: as it is)."""
  if cache_sharding is None:
    return cache
  return jax.tree.map(jax.lax.with_sharding_constraint, cache, cache_sharding)


def _init_carry(logits_bv, cache, rng, n_pad: int, pad_id: int) -> Carry:
  """The loop state before the first new token: outputs of ``n_pad``
  slots, all padding."""
  b = logits_bv.shape[0]
  return Carry(
      t=jnp.zeros((), jnp.int32),
      logits=logits_bv,
      cache=cache,
      done=jnp.zeros((b,), bool),
      out=SampleOutput(
          tokens=jnp.full((b, n_pad), pad_id, jnp.int32),
          logprobs=jnp.zeros((b, n_pad), jnp.float32),
          mask=jnp.zeros((b, n_pad), bool),
          lengths=jnp.zeros((b,), jnp.int32),
      ),
      rng=rng,
      forced=jnp.full((b,), -1, jnp.int32),
      closed=jnp.zeros((b,), bool),
  )


def _decode_loop(init: Carry, step, n: int, chunk: int) -> Carry:
  """``step`` until every row has stopped or ``n`` tokens are out; with
  ``chunk`` k > 1 the stop is checked once per k steps."""

  def body(c: Carry) -> Carry:
    if chunk == 1:
      return step(c)
    # A fixed trip count: the compiler knows it and needs no predicate on
    # the host inside; rows past the end or stopped are masked in `step`.
    return jax.lax.fori_loop(0, chunk, lambda _, x: step(x), c)

  def cond(c: Carry):
    return (c.t < n) & ~jnp.all(c.done)

  return jax.lax.while_loop(cond, body, init)


def _pick(
    logits_bv, key, *, greedy: bool, temperature, top_k: int, top_p: float
):
  """The next token [B]: argmax, or a draw from the filtered softmax."""
  if greedy:
    return jnp.argmax(logits_bv, axis=-1).astype(jnp.int32)
  scaled = filter_logits(logits_bv / temperature, top_k=top_k, top_p=top_p)
  return sample_categorical(key, scaled)


def _decode_step(
    c: Carry,
    *,
    model: CausalLM,
    variables,
    pick,
    pin,
    n: int,
    n_prompt_b,
    stops,
    pad_id: int,
    budget: Budget | None
) -> Carry:
  """Picks token t for every active row (not stopped, t < n), records it
  with its log-prob, and runs it through the model to get logits t + 1."""
  rng, key = jax.random.split(c.rng)
  active = ~c.done & (c.t < n)
  tok = pick(c.logits, key)
  forced, closed = c.forced, c.closed
  if budget is not None:
    tok, forced, closed = force_budget(tok, c.t, forced, closed, budget)
  tok = jnp.where(active, tok, pad_id)
  logp = jnp.take_along_axis(
      jax.nn.log_softmax(c.logits, -1), tok[:, None], -1
  )[:, 0]
  out = SampleOutput(
      tokens=c.out.tokens.at[:, c.t].set(tok),
      logprobs=c.out.logprobs.at[:, c.t].set(jnp.where(active, logp, 0.0)),
      mask=c.out.mask.at[:, c.t].set(active),
      lengths=c.out.lengths + active.astype(jnp.int32),
  )
  done = c.done | (active & jnp.isin(tok, stops))
  logits, _, cache = model.apply(
      variables,
      tok[:, None],
      (n_prompt_b + c.t)[:, None],
      active[:, None],
      c.cache,
  )
  return Carry(
      c.t + 1, logits[:, -1], pin(cache), done, out, rng, forced, closed
  )


def sample(
    model: CausalLM,
    params,
    prompt_bl,
    prompt_valid_bl,
    rng,
    temperature=1.0,
    *,
    max_new_tokens: int,
    greedy: bool = False,
    top_k: int = 0,
    top_p: float = 1.0,
    eos_id: int = 2,
    stop_ids: Sequence[int] = (),
    pad_id: int = 0,
    group_size: int = 1,
    cache_sharding=None,
    budget: Budget | None = None
) -> SampleOutput:
  """Samples ``max_new_tokens`` continuations of left-padded prompts.

  Args:
    model: the policy module (static).
    params: its parameter tree (``variables["params"]``).
    prompt_bl: [B, L] int prompt ids, left-padded; slot L-1 must be real.
    prompt_valid_bl: [B, L] bool, False on padding.
    rng: PRNG key; the same key gives the same output.
    temperature: softmax temperature (traced, > 0) unless ``greedy``.
    max_new_tokens, greedy, top_k, top_p, eos_id, stop_ids, pad_id: static.
    group_size: G > 1 promises that rows ``g*G .. g*G+G-1`` hold the same
      prompt (GRPO groups): the prompt is prefilled once per group and its
      cache and last logits are repeated G times (prefix sharing); the
      output is the same as with G = 1.
    cache_sharding: optional ``KVCache`` of shardings to pin the cache to
      (batch over the data axes, kv heads over ``tensor``).
    budget: s1 budget forcing (``Budget``), applied inside the loop.
  """
  b, pl = prompt_bl.shape
  assert prompt_valid_bl.shape == (b, pl), (prompt_valid_bl.shape, (b, pl))
  assert b % group_size == 0, (b, group_size)
  n = max_new_tokens
  chunk = model.cfg.decode_chunk
  n_pad = -(-n // chunk) * chunk  # steps the loop runs at most.
  stops = jnp.asarray(sorted({eos_id, *stop_ids}), jnp.int32)
  n_prompt = jnp.sum(prompt_valid_bl, axis=-1).astype(jnp.int32)  # [B]

  pin = functools.partial(_pin, cache_sharding=cache_sharding)
  variables = _compute_weights(model, params)
  logits, cache = _prefill(
      model, variables, prompt_bl, prompt_valid_bl, group_size, pl + n_pad
  )
  pick = functools.partial(
      _pick, greedy=greedy, temperature=temperature, top_k=top_k, top_p=top_p
  )
  step = functools.partial(
      _decode_step,
      model=model,
      variables=variables,
      pick=pick,
      pin=pin,
      n=n,
      n_prompt_b=n_prompt,
      stops=stops,
      pad_id=pad_id,
      budget=budget,
  )

  init = _init_carry(logits, pin(cache), rng, n_pad, pad_id)
  out = _decode_loop(init, step, n, chunk).out
  if n_pad == n:
    return out
  return out._replace(
      tokens=out.tokens[:, :n],
      logprobs=out.logprobs[:, :n],
      mask=out.mask[:, :n],
  )


def make_sampler(
    model: CausalLM,
    *,
    max_new_tokens: int,
    greedy: bool = False,
    top_k: int = 0,
    top_p: float = 1.0,
    eos_id: int = 2,
    stop_ids: Sequence[int] = (),
    pad_id: int = 0,
    group_size: int = 1,
    mesh=None,
    rules=None,
    param_shardings=None,
    budget: Budget | None = None
) -> Callable[..., SampleOutput]:
  """Jitted ``fn(params, prompt_bl, prompt_valid_bl, rng, temperature)``.

  With a ``mesh`` (and the config's logical-axis ``rules``) the jit has
  explicit shardings: parameters as ``param_shardings`` (the train state's),
  prompts and outputs over the batch axes, the KV cache over batch and kv
  heads, RNG key and temperature replicated.
  """
  cache_sh = None
  if mesh is not None:
    batch_sh = sharding.batch_sharding(mesh, rules)
    kv_sh = sharding.named(mesh, rules, ("batch", "kv_heads", None, "head_dim"))
    repl = sharding.replicated(mesh)
    cache_sh = KVCache(
        k=(kv_sh,) * model.cfg.n_layers,
        v=(kv_sh,) * model.cfg.n_layers,
        valid=batch_sh,
        index=repl,
    )
  fn = functools.partial(
      sample,
      model,
      max_new_tokens=max_new_tokens,
      greedy=greedy,
      top_k=top_k,
      top_p=top_p,
      eos_id=eos_id,
      stop_ids=tuple(stop_ids),
      pad_id=pad_id,
      group_size=group_size,
      cache_sharding=cache_sh,
      budget=budget,
  )
  if mesh is None:
    return jax.jit(fn)
  return jax.jit(
      fn,
      in_shardings=(param_shardings, batch_sh, batch_sh, repl, repl),
      out_shardings=batch_sh,
  )
