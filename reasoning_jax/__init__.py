"""reasoning_jax: reasoning language models, RL and test-time scaling in JAX.

Importing the package is cheap: subpackages load JAX and Flax only when used.

Dimension letters, the same in every module docstring and as array-argument
suffixes (``logp_bt`` is [B, T], ``rewards_pg`` is [P, G]):

  P prompts           G samples per prompt (a group)
  B sequences (in RL B = P·G, each group's rows adjacent)
  L prompt slots (left-padded)
  T tokens: a completion's, or a whole sequence's where there is no prompt
    split (SFT, scoring)
  S reasoning steps   V vocab
  Q problems          N samples per problem (test-time scaling)

and inside the model: D width, H query heads, K key/value heads, R = H / K,
Dh head width, F MLP width, C cache slots.
"""

__version__ = "0.1.0"
