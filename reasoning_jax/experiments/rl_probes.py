"""Probes of the RL gradient at a fixed policy (no training).

``gradient_variance``: how much the policy-gradient estimate of one RL step
varies between independent rollouts, as a function of the group size G.
At fixed parameters, for each G it draws ``repeats`` independent rollouts
of the same P prompts (only the completions are resampled: the variance
given the prompts) and, separately, of fresh prompts (the prompts resampled
too), computes each rollout's gradient of the algorithm's loss (on-policy,
KL off) and reports the total variance tr Cov[g] = E‖g − ḡ‖², with the
slope of log variance against log G. Independent samples would give a
slope of −1 given the prompts (the "variance falls as 1/G" of the GRPO
tutorials); fresh prompts add a term that G does not shrink.

Dimensions: P prompts, G samples per prompt, K repeats.
"""

import jax
import numpy as np

from reasoning_jax import config as config_lib
from reasoning_jax.train import context
from reasoning_jax.train import learner
from reasoning_jax.train import learner_step
from reasoning_jax.train import rl
from reasoning_jax.train import rollout as rollout_lib


def total_variance(vectors_kd) -> float:
  """tr Cov of K vectors [K, D]: Σ_d Var_k(v_kd) with ddof 1."""
  v = np.asarray(vectors_kd, np.float64)
  assert v.ndim == 2 and v.shape[0] >= 2, v.shape
  return float(v.var(axis=0, ddof=1).sum())


def log_slope(xs, ys) -> float:
  """Least-squares slope of log y against log x."""
  return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _gradients(ctx, params, rc, repeats: int, fresh: bool, seed: int):
  """[K, D] flattened policy gradients of K independent rollouts."""
  state, ref, fns = rl.learner_for(ctx, params, rc)
  loss_fn = learner_step.make_loss_fn(
      ctx.model, None, fns.algorithm, fns.settings
  )
  grad = jax.jit(lambda p, b: jax.grad(lambda q: loss_fn(q, b)[0])(p))
  sample_fn = ctx.sampler(group_size=rc.group_size)
  p = rc.num_prompts
  out = []
  for k in range(repeats):
    first = k * p if fresh else 0
    ro, _ = rollout_lib.rollout(
        ctx,
        params,
        sample_fn,
        lambda start, n, first=first: [
            ctx.fresh_example(first + start + i) for i in range(n)
        ],
        jax.random.PRNGKey(seed * 1000 + k),
        rc=rc,
    )
    batch, _ = learner.prepare_batch(
        ro, state, ref, fns, rc, ctx.batch_sharding
    )
    g = grad(state.params, batch)["policy"]
    out.append(np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)]))
  return np.stack(out)


def gradient_variance(
    config,
    workdir: str,
    params,
    *,
    group_sizes,
    num_prompts: int,
    repeats: int,
    seed: int,
) -> dict:
  """The probe of the module docstring at ``params`` (the cold start),
  under ``config.rl``'s algorithm on-policy with KL off."""
  out = {"group_sizes": list(group_sizes), "num_prompts": num_prompts}
  for fresh in (False, True):
    var = []
    for g in group_sizes:
      cfg = config_lib.derive(
          config,
          {
              "rl.group_size": g,
              "rl.num_prompts": num_prompts,
              "rl.minibatch_size": num_prompts * g,
              "rl.num_updates": 1,
              "rl.microbatches": 1,
              "rl.kl_beta": 0.0,
              "rl.dynamic_sampling": False,
          },
      )
      ctx = context.build_context(cfg, workdir)
      rc = rl.rl_section(ctx)
      var.append(
          total_variance(_gradients(ctx, params, rc, repeats, fresh, seed))
      )
    key = "fresh_prompts" if fresh else "fixed_prompts"
    out[key] = {"variance": var, "log_slope": log_slope(group_sizes, var)}
  return out
