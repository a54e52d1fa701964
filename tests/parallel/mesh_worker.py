"""One SFT, GRPO and PPO step, one sampler call and a fresh init on several
meshes.

Run as a script (it sets 8 simulated CPU devices before JAX starts):

  python tests/parallel/mesh_worker.py [--timing]

Prints one JSON line: for each (mode, mesh) the loss, the largest absolute
difference of the updated parameters and of the loss from the same step on
a single device, and compile / step seconds. The train steps use plain SGD
at learning rate 1, so the update is the gradient itself (``update_max``
is its largest entry): a gradient off by a constant factor shows up, where
an AdamW step (lr·sign(g) at first) would hide it. ``test_mesh.py`` checks the
differences; ``--timing`` adds repeated steps for the issue's cost table.
"""

import json
import os
import sys
import time

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_force_host_platform_device_count=8"
)

import jax  # pylint: disable=g-import-not-at-top
import numpy as np
import optax  # pylint: disable=g-import-not-at-top

from reasoning_jax.config import base_config
from reasoning_jax.config import rl as rl_config
from reasoning_jax.models import CausalLM
from reasoning_jax.models import ModelConfig
from reasoning_jax.parallel import sharding
from reasoning_jax.rl import algorithms
from reasoning_jax.sampling.sampler import make_sampler
from reasoning_jax.train import learner
from reasoning_jax.train import learner_step
from reasoning_jax.train import optim
from reasoning_jax.train import rollout as rollout_lib
from reasoning_jax.train import sft
from reasoning_jax.train import state as state_lib

# Every sharded dim divides by 4: heads, kv heads, mlp, vocab, embed.
CFG = ModelConfig(
    vocab_size=64,
    d_model=32,
    n_layers=2,
    n_heads=4,
    n_kv_heads=4,
    head_dim=8,
    d_ff=64,
)
MESHES = [(1, 1, 1), (8, 1, 1), (2, 2, 2), (1, 2, 4)]
P, G, PL, N = 4, 4, 8, 12  # prompts, group size, prompt slots, new tokens.
RULES = base_config().logical_axis_rules


def _mesh(shape):
  devices = jax.devices()[: int(np.prod(shape))]
  return sharding.make_mesh(dict(zip(sharding.MESH_AXES, shape)), devices)


def _params():
  toks = np.ones((1, PL + N), np.int32)
  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  return nn.unbox(
      CausalLM(CFG).init(jax.random.PRNGKey(0), toks, toks, toks > 0)["params"]
  )


def _rollout():
  """A fixed synthetic rollout: ragged prompts and completions, rewards."""
  rs = np.random.RandomState(0)
  b = P * G
  plen = np.repeat(rs.randint(3, PL + 1, P), G)
  valid = np.arange(PL)[None] >= (PL - plen)[:, None]
  ids = np.where(valid, rs.randint(4, CFG.vocab_size, (b, PL)), 0)
  lengths = rs.randint(2, N + 1, b)
  mask = np.arange(N)[None] < lengths[:, None]
  tokens = np.where(mask, rs.randint(4, CFG.vocab_size, (b, N)), 0)
  rewards = rs.randint(0, 2, b).astype(np.float32)
  return rollout_lib.Rollout(
      seqs=rollout_lib.Sequences(
          prompt_ids=ids.astype(np.int32),
          prompt_valid=valid,
          tokens=tokens.astype(np.int32),
          mask=mask,
      ),
      rewards=rewards,
      truncated=np.zeros(b, bool),
      stats=rollout_lib.RowStats(
          correct=rewards,
          formatted=np.ones(b, np.float32),
          think_tokens=np.minimum(lengths, 3).astype(np.int32),
          thinking=np.ones(b, bool),
          reflected=np.zeros(b, bool),
          consistency=np.zeros(b, np.float32),
      ),
  )


def rl_step(algorithm, shape, repeats, microbatches=1):
  mesh = _mesh(shape)
  rc = base_config().rl
  rc.update(
      algorithm=algorithm,
      microbatches=microbatches,
      num_prompts=P,
      group_size=G,
      minibatch_size=P * G // 2,
      num_updates=1,
      learning_rate=1e-3,
      critic_lr=1e-3,
      kl_beta=0.04,
  )
  rc = rl_config.resolve(rc)
  critic = algorithms.ALGORITHMS[algorithm].trains_critic
  parts = ("policy", "critic") if critic else ("policy",)
  sgd = optax.multi_transform(
      {k: optax.sgd(1.0) for k in parts}, {k: k for k in parts}
  )
  state, state_sh, critic, tx = learner_step.build_learner(
      CausalLM(CFG),
      _params(),
      rc,
      mesh,
      RULES,
      PL + N,
      seed=0,
      algorithm=algorithm,
      tx=sgd,
  )
  ref = jax.tree.map(lambda x: x.copy(), state.params["policy"])
  sh = sharding.batch_sharding(mesh, RULES)
  fns = learner_step.make_learner_fns(
      CausalLM(CFG), critic, tx, rc, state_sh, sh, algorithm=algorithm
  )
  ro = _rollout()
  t0 = time.perf_counter()
  state, m = learner.learn(state, ro, ref, fns, rc, sh, jax.random.PRNGKey(1))
  first = time.perf_counter() - t0
  out = (float(m["loss"]), jax.device_get(state.params))
  times = []
  for i in range(repeats):
    t0 = time.perf_counter()
    state, m = learner.learn(state, ro, ref, fns, rc, sh, jax.random.PRNGKey(2))
    jax.block_until_ready(state.params)
    times.append(time.perf_counter() - t0)
  return out, first, times


def _sft_setup(shape, sgd: bool = False):
  """(state, sft step fn, batch sharding, ids, mask) on a mesh; AdamW (whose
  moments the restore test carries across meshes) or SGD."""
  mesh = _mesh(shape)
  tx = (
      optax.sgd(1.0)
      if sgd
      else optim.make_optimizer(
          learning_rate=1e-3,
          total_steps=10,
          warmup_steps=0,
          weight_decay=0.01,
          b1=0.9,
          b2=0.95,
          max_grad_norm=1.0,
          schedule="constant",
      )
  )
  model = CausalLM(CFG)
  state, state_sh = state_lib.create_state(
      lambda k: model.init(
          k,
          np.ones((1, 8), np.int32),
          np.ones((1, 8), np.int32),
          np.ones((1, 8), bool),
      )["params"],
      tx,
      jax.random.PRNGKey(0),
      mesh,
      RULES,
      params=_params(),
  )
  sh = sharding.batch_sharding(mesh, RULES)
  step = sft.make_sft_step(model, tx, state_sh, sh)
  ro = _rollout()
  s = ro.seqs
  ids = np.concatenate([s.prompt_ids, s.tokens], 1)
  mask = np.concatenate([np.zeros_like(s.prompt_valid), s.mask], 1)
  return state, step, sh, ids, mask


def restore_on_another_mesh(workdir):
  """Two SFT steps on (8,1,1), save; restore on (1,2,4) and (2,2,2); one
  more step there vs one more step on the original mesh."""
  from reasoning_jax.train import checkpoint  # pylint: disable=g-import-not-at-top

  state, step, sh, ids, mask = _sft_setup((8, 1, 1))
  for _ in range(2):
    state, _ = step(state, jax.device_put(ids, sh), jax.device_put(mask, sh))
  ckpt = checkpoint.Checkpointer(workdir, "sft")
  ckpt.save(2, state)
  ckpt.close()
  saved = jax.device_get(state)
  state, _ = step(state, jax.device_put(ids, sh), jax.device_put(mask, sh))
  want = jax.device_get(state.params)
  out = []
  for shape in [(1, 2, 4), (2, 2, 2)]:
    fresh, step2, sh2, _, _ = _sft_setup(shape)
    ckpt = checkpoint.Checkpointer(workdir, "sft")
    restored = ckpt.restore(fresh)
    ckpt.close()
    exact = all(
        np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(jax.device_get(restored)), jax.tree.leaves(saved)
        )
    )
    on_new_mesh = {
        str(x.sharding.spec) for x in jax.tree.leaves(restored.params)
    } == {str(x.sharding.spec) for x in jax.tree.leaves(fresh.params)}
    restored, _ = step2(
        restored, jax.device_put(ids, sh2), jax.device_put(mask, sh2)
    )
    diff = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(
            jax.tree.leaves(jax.device_get(restored.params)),
            jax.tree.leaves(want),
        )
    )
    out.append({
        "mode": "restore",
        "mesh": list(shape),
        "exact": exact,
        "on_new_mesh": on_new_mesh,
        "step": int(restored.step),
        "param_diff": diff,
    })
  return out


def sft_step(shape, repeats):
  state, step, sh, ids, mask = _sft_setup(shape, sgd=True)
  t0 = time.perf_counter()
  state, m = step(state, jax.device_put(ids, sh), jax.device_put(mask, sh))
  out = (float(m["loss"]), jax.device_get(state.params))
  first = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    state, m = step(state, jax.device_put(ids, sh), jax.device_put(mask, sh))
    jax.block_until_ready(state.params)
    times.append(time.perf_counter() - t0)
  return out, first, times


def sample(shape, repeats):
  mesh = _mesh(shape)
  p_sh = sharding.param_shardings(CausalLM(CFG), mesh, RULES)
  fn = make_sampler(
      CausalLM(CFG),
      max_new_tokens=N,
      eos_id=-1,
      mesh=mesh,
      rules=RULES,
      param_shardings=p_sh,
  )
  params = jax.device_put(_params(), p_sh)
  ro = _rollout()
  args = (
      params,
      ro.seqs.prompt_ids,
      ro.seqs.prompt_valid,
      jax.random.PRNGKey(3),
      1.0,
  )
  t0 = time.perf_counter()
  out = jax.device_get(fn(*args))
  first = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  # "loss": mean log-prob of the sampled tokens; "params": the tokens.
  return (float(out.logprobs.sum()), {"tokens": out.tokens}), first, times


def fresh_init():
  """A fresh train state (the batched init, ``models/initializers.py``) on
  each mesh: its parameters against ``model.init`` on one device, bit for
  bit, and the embedding's placement against the rules."""
  model = CausalLM(CFG)
  toks = np.ones((1, 8), np.int32)
  init_fn = lambda k: model.init(k, toks, toks, toks > 0)["params"]
  rng = jax.random.PRNGKey(5)
  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  want = jax.device_get(nn.unbox(jax.jit(init_fn)(jax.random.split(rng)[0])))
  rows = []
  for shape in MESHES:
    mesh = _mesh(shape)
    state, state_sh = state_lib.create_state(
        init_fn, optax.adam(1e-3), rng, mesh, RULES
    )
    got = jax.device_get(state.params)
    emb = state.params["model"]["embed_tokens"]
    rows.append({
        "mode": "fresh_init",
        "mesh": list(shape),
        "exact": all(
            bool(np.array_equal(a, b))
            for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got))
        ),
        "placed": (
            emb.sharding == state_sh.params["model"]["embed_tokens"]
            and len(emb.sharding.device_set) == int(np.prod(shape))
        ),
    })
  return rows


def main():
  repeats = 5 if "--timing" in sys.argv else 0
  modes = {
      "sft": sft_step,
      "grpo": lambda s, r: rl_step("grpo", s, r),
      "ppo": lambda s, r: rl_step("ppo", s, r),
      # Each minibatch's gradient in 2 chunks (4 rows: fewer than the
      # (8, 1, 1) mesh's data devices), against the unchunked step.
      "grpo_mb2": lambda s, r: rl_step("grpo", s, r, microbatches=2),
      "ppo_mb2": lambda s, r: rl_step("ppo", s, r, microbatches=2),
      "sample": sample,
  }
  against = {"grpo_mb2": "grpo", "ppo_mb2": "ppo"}
  firsts = {}
  report = []
  init = jax.device_get(_params())
  for mode, fn in modes.items():
    start = (
        init
        if mode == "sft"
        else {"policy": init}
        if mode.startswith("grpo")
        else {
            "policy": init,
            "critic": {
                "model": init["model"],
                "value_head": {
                    "kernel": np.zeros(CFG.d_model),
                    "bias": np.zeros(()),
                },
            },
        }
    )
    ref = firsts.get(against.get(mode))
    for shape in MESHES:
      (loss, params), first, times = fn(shape, repeats)
      if ref is None:
        ref = (loss, params)
      firsts.setdefault(mode, (loss, params))
      diffs = jax.tree.leaves(
          jax.tree.map(
              lambda a, b: float(np.max(np.abs(np.asarray(a, np.float64) - b))),
              params,
              ref[1],
          )
      )
      update = (
          max(
              jax.tree.leaves(
                  jax.tree.map(
                      lambda a, b: float(
                          np.max(np.abs(np.asarray(a, np.float64) - b))
                      ),
                      params,
                      start,
                  )
              )
          )
          if mode != "sample"
          else 0.0
      )
      report.append({
          "mode": mode,
          "mesh": list(shape),
          "loss": loss,
          "loss_diff": abs(loss - ref[0]),
          "param_diff": max(diffs),
          "update_max": update,
          "first_call_s": first,
          "step_s": float(np.median(times)) if times else None,
      })
  report += fresh_init()
  import tempfile  # pylint: disable=g-import-not-at-top

  with tempfile.TemporaryDirectory() as d:
    report += restore_on_another_mesh(d)
  print(json.dumps(report))


if __name__ == "__main__":
  main()
