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

from reasoning_jax.parallel import sharding


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # [] int32, optimizer steps taken.
  params: Any  # parameter pytree (plain arrays).
  opt_state: Any  # optax state.
  rng: jax.Array  # [2] uint32 PRNG key for the stage's randomness.
  data_position: jax.Array  # [] int32, training examples consumed.


def create_state(init_params_fn: Callable[[jax.Array], Any],
                 tx: optax.GradientTransformation, rng: jax.Array, mesh,
                 rules) -> tuple[TrainState, Any]:
  """Returns ``(state, state_shardings)``.

  ``init_params_fn(rng)`` returns the (logically boxed) parameter tree, e.g.
  ``lambda r: model.init(r, ...)["params"]``.
  """
  def boxed_init(key):
    init_key, state_key = jax.random.split(key)
    params = init_params_fn(init_key)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params), rng=state_key,
                      data_position=jnp.zeros((), jnp.int32))

  abstract = jax.eval_shape(boxed_init, rng)
  shardings = sharding.logical_shardings(abstract, mesh, rules)
  state = jax.jit(lambda k: nn.unbox(boxed_init(k)),
                  out_shardings=shardings)(rng)
  return state, shardings


def param_count(params) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(params))


def tree_bytes(tree) -> int:
  return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(tree))
