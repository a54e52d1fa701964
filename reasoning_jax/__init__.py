"""reasoning_jax: reasoning language models, RL and test-time scaling in JAX.

Importing the package is cheap: subpackages load JAX and Flax only when used.
"""

__version__ = "0.1.0"
