"""Train state, built already sharded (eval_shape -> shardings -> jit init).

The order follows flax's lm1b / big_vision: trace the init to get abstract,
logically annotated leaves, derive ``NamedSharding``s from the config's rules,
then run the init under ``jit`` with those output shardings, so parameters
and optimizer state are never materialised unsharded.
"""

from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from reasoning_jax.models import initializers
from reasoning_jax.parallel import sharding


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # [] int32, optimizer steps taken.
  params: Any  # parameter pytree (plain arrays).
  opt_state: Any  # optax state.
  rng: jax.Array  # [2] uint32 PRNG key for the stage's randomness.
  data_position: jax.Array  # [] int32, training examples consumed.


def create_state(
    init_params_fn: Callable[[jax.Array], Any],
    tx: optax.GradientTransformation,
    rng: jax.Array,
    mesh,
    rules,
    params: Any = None,
) -> tuple[TrainState, Any]:
  """Returns ``(state, state_shardings)``.

  ``init_params_fn(rng)`` returns the logically boxed parameter tree, e.g.
  ``lambda r: model.init(r, ...)["params"]``. With ``params`` given (an
  earlier stage's result), those values are used instead of a fresh init,
  placed onto the same shardings.
  """

  # A fresh init draws its random parameters in a few batched kernels
  # (models/initializers.py): the same bits, a fraction of the compile.
  keys = None
  if params is None:
    keys = initializers.parameter_keys(
        lambda k: init_params_fn(jax.random.split(k)[0]), rng
    )

  def boxed_init(key, values, keys):
    init_key, state_key = jax.random.split(key)
    boxed = initializers.init_params(init_params_fn, init_key, keys)
    if values is not None:  # an argument, not a closure: no baked constants.
      boxed = rebox(boxed, values)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=boxed,
        opt_state=tx.init(boxed),
        rng=state_key,
        data_position=jnp.zeros((), jnp.int32),
    )

  abstract = jax.eval_shape(boxed_init, rng, params, keys)
  shardings = sharding.logical_shardings(abstract, mesh, rules)
  state = jax.jit(
      lambda k, v, ks: nn.unbox(boxed_init(k, v, ks)), out_shardings=shardings
  )(rng, params, keys)
  return state, shardings


def rebox(boxed, values):
  """``values`` (plain arrays) wrapped in ``boxed``'s logical-axis metadata."""
  is_box = lambda x: isinstance(x, nn.LogicallyPartitioned)
  return jax.tree.map(
      lambda b, v: b.replace_boxed(v) if is_box(b) else v,
      boxed,
      values,
      is_leaf=is_box,
  )


def guarded_update(
    state: TrainState, grads, tx: optax.GradientTransformation, loss
):
  """Applies ``tx`` unless the loss or any gradient is non-finite.

  A non-finite step leaves params and optimizer state untouched (the step
  counter still advances) and reports ``skipped=1``.
  """
  grad_norm = optax.tree.norm(grads)
  ok = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  keep = lambda new, old: jax.tree.map(  # pylint: disable=g-long-lambda
      lambda n, o: jnp.where(ok, n, o), new, old
  )
  state = state.replace(
      step=state.step + 1,
      params=keep(params, state.params),
      opt_state=keep(opt_state, state.opt_state),
  )
  return state, {"grad_norm": grad_norm, "skipped": 1.0 - ok}


def param_count(params) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(params))


def tree_bytes(tree) -> int:
  return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(tree))
