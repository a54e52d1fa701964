"""Held-out evaluation: batched sampling + the task's exact verifier.

Sampling runs in fixed-size batches (the last one padded by repeating
prompts) so one compiled sampler serves any number of problems. Scoring reads
text, so it runs on the host, never under jit.
"""

import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.rewards import format_reward


def decode_completions(tok, out):
  """Host-side ``SampleOutput`` -> ``(texts, lengths [B], truncated [B])``.

  A completion is truncated when it ends without the eos token.
  """
  lengths = np.asarray(out.lengths)
  texts = [tok.decode(out.tokens[i, :n]) for i, n in enumerate(lengths)]
  last = out.tokens[np.arange(len(lengths)), np.maximum(lengths - 1, 0)]
  return texts, lengths, (lengths == 0) | (last != tok.eos_id)


def score(task, texts: list[str], examples):
  """Verifier accuracy and format reward per text: two float32 [N] arrays."""
  correct = np.asarray([task.is_correct(t, ex)
                        for t, ex in zip(texts, examples)], np.float32)
  return correct, np.asarray([format_reward(t) for t in texts], np.float32)


def generate(sample_fn, params, tok, prompts: list[str], rng, *,
             max_prompt_len: int, batch_size: int, temperature: float = 1.0):
  """Completions for ``prompts``: ``(texts, lengths [N], truncated [N])``."""
  import jax  # pylint: disable=g-import-not-at-top
  texts, lengths, truncated = [], [], []
  for start in range(0, len(prompts), batch_size):
    chunk = prompts[start:start + batch_size]
    padded = chunk + [chunk[-1]] * (batch_size - len(chunk))
    ids, valid = encoding.encode_prompts(tok, padded, max_prompt_len)
    rng, key = jax.random.split(rng)
    out = jax.device_get(sample_fn(params, ids, valid, key, temperature))
    t, n, cut = decode_completions(tok, out)
    texts += t[:len(chunk)]
    lengths.append(n[:len(chunk)])
    truncated.append(cut[:len(chunk)])
  return texts, np.concatenate(lengths), np.concatenate(truncated)


SUMMARY_KEYS = ("pass@1", "format", "length", "truncated")


def evaluate(sample_fn, params, tok, task, examples, rng, *,
             max_prompt_len: int, batch_size: int) -> dict:
  """pass@1 (one sample per problem from ``sample_fn``) and format stats.

  The ``SUMMARY_KEYS`` are floats; ``correct`` is the per-problem [N] 0/1
  array (for paired comparisons) and ``texts`` the completions.
  """
  prompts = [encoding.prompt_text(ex) for ex in examples]
  texts, lengths, truncated = generate(
      sample_fn, params, tok, prompts, rng, max_prompt_len=max_prompt_len,
      batch_size=batch_size)
  correct, fmt = score(task, texts, examples)
  return {"pass@1": float(correct.mean()), "format": float(fmt.mean()),
          "length": float(lengths.mean()),
          "truncated": float(truncated.mean()),
          "num_problems": len(examples), "correct": correct, "texts": texts}
