"""Text in, text out: prompts through a jitted sampler in fixed-size batches.

``generate`` encodes prompts, samples in batches of one shape (the last one
padded by repeating prompts) so one compiled sampler serves any number of
problems, and decodes; ``decode_completions`` turns a sampler output into
texts, lengths and truncation flags. Multi-process runs: each process
encodes and decodes only its rows of every batch.
"""

from typing import NamedTuple

import jax
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.parallel import multihost


def decode_completions(tok, out):
  """Host-side ``SampleOutput`` -> ``(texts, lengths [B], truncated [B])``.

  A completion is truncated when it ends without the eos token.
  """
  lengths = np.asarray(out.lengths)
  texts = [tok.decode(out.tokens[i, :n]) for i, n in enumerate(lengths)]
  last = out.tokens[np.arange(len(lengths)), np.maximum(lengths - 1, 0)]
  return texts, lengths, (lengths == 0) | (last != tok.eos_id)


class Generated(NamedTuple):
  texts: list[str]
  lengths: np.ndarray  # [n] completion tokens (eos included).
  truncated: np.ndarray  # [n] bool: ended without the eos.
  rows: np.ndarray  # [n] indices into the prompts.
  logprob: np.ndarray  # [n] Σ log π(token) over the completion.


def generate(
    sample_fn,
    params,
    tok,
    prompts: list[str],
    rng,
    *,
    max_prompt_len: int,
    batch_size: int,
    temperature: float = 1.0,
    batch_sharding=None
) -> Generated:
  """Completions for ``prompts`` (``Generated``), in fixed-size batches.

  With a ``batch_sharding`` (multi-process runs) each process encodes and
  decodes only its rows of every batch; ``rows`` are the indices into
  ``prompts`` of what this process returns (all of them with one process).
  """
  mine = (
      slice(0, batch_size)
      if batch_sharding is None
      else multihost.process_rows(batch_sharding, batch_size)
  )
  texts, lengths, truncated, rows, logprob = [], [], [], [], []
  for start in range(0, len(prompts), batch_size):
    chunk = prompts[start : start + batch_size]
    padded = (chunk + [chunk[-1]] * (batch_size - len(chunk)))[mine]
    ids, valid = encoding.encode_prompts(tok, padded, max_prompt_len)
    if batch_sharding is not None:
      ids, valid = (
          multihost.to_global(x, batch_sharding, batch_size)
          for x in (ids, valid)
      )
    rng, key = jax.random.split(rng)
    out = sample_fn(params, ids, valid, key, temperature)
    out = jax.tree.map(multihost.local_rows, out)
    t, n, cut = decode_completions(tok, out)
    keep = [i for i in range(len(t)) if mine.start + i < len(chunk)]
    texts += [t[i] for i in keep]
    lengths.append(n[keep])
    truncated.append(cut[keep])
    logprob.append(np.asarray(out.logprobs, np.float64).sum(1)[keep])
    rows += [start + mine.start + i for i in keep]
  cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt)
  return Generated(
      texts=texts,
      lengths=cat(lengths, np.int32),
      truncated=cat(truncated, bool),
      rows=np.asarray(rows, np.int64),
      logprob=cat(logprob, np.float64),
  )
