"""Answer extraction, exact answer comparison and rule-based rewards."""

from reasoning_jax.rewards.answers import answers_match
from reasoning_jax.rewards.answers import extract_answer
from reasoning_jax.rewards.answers import extract_boxed
from reasoning_jax.rewards.answers import normalize_answer
from reasoning_jax.rewards.answers import parse_number
from reasoning_jax.rewards.rule import accuracy_reward
from reasoning_jax.rewards.rule import consistency_reward
from reasoning_jax.rewards.rule import format_reward

__all__ = [
    "accuracy_reward",
    "answers_match",
    "consistency_reward",
    "extract_answer",
    "extract_boxed",
    "format_reward",
    "normalize_answer",
    "parse_number",
]
