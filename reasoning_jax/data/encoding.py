"""Text <-> fixed-shape token arrays (pad + mask keeps every shape static).

Layout of one sequence: ``[bos] prompt "\\n" completion [eos]``. Prompts for
sampling are *left*-padded to L slots so every prompt ends at slot L-1;
training sequences are *right*-padded to T slots with a loss mask on the
completion (and its eos) only. Shapes: B sequences, L prompt slots, T slots.
"""

import jax.numpy as jnp
import numpy as np

from reasoning_jax.data.datasets import DataError
from reasoning_jax.data.tasks import Example
from reasoning_jax.data.tokenizer import Tokenizer


def round_up(n: int, multiple: int, cap: int) -> int:
  """``n`` rounded up to a multiple (at least one), at most ``cap``.

  Trimming padded arrays to such buckets keeps the number of distinct shapes
  (and so of compilations) small.
  """
  return min(cap, max(multiple, -(-n // multiple) * multiple))


def join_completions(prompt_ids, prompt_valid, tokens, mask):
  """``(ids [B, L + T], valid [B, L + T])``: each left-padded prompt
  ``[B, L]`` followed by its completion ``[B, T]`` (works under jit)."""
  assert prompt_ids.shape == prompt_valid.shape, prompt_valid.shape
  assert tokens.shape == mask.shape, (tokens.shape, mask.shape)
  return (
      jnp.concatenate([prompt_ids, tokens], 1),
      jnp.concatenate([prompt_valid, mask], 1),
  )


def prompt_text(example: Example) -> str:
  return example.prompt + "\n"


def encode_prompts(tok: Tokenizer, prompts: list[str], max_len: int):
  """Left-padded ``(ids [B, L] int32, valid [B, L] bool)``; the tokenizer's
  ``prefix`` (its bos, or nothing) first. ``valid`` comes from the lengths,
  so a prompt may hold the pad id (a chat template's eos, when pad = eos)."""
  ids = np.full((len(prompts), max_len), tok.pad_id, np.int32)
  valid = np.zeros((len(prompts), max_len), bool)
  for i, text in enumerate(prompts):
    row = tok.prefix + tok.encode(text)
    if len(row) > max_len:
      raise DataError(
          f"prompt {i} has {len(row)} tokens > max_prompt_len="
          f"{max_len}: {text[:80]!r}"
      )
    ids[i, max_len - len(row) :] = row
    valid[i, max_len - len(row) :] = True
  return ids, valid


def encode_sft(
    tok: Tokenizer,
    examples: list[Example],
    max_len: int,
    prompt_loss: bool = False,
):
  """Right-padded ``(ids [B, T], loss_mask [B, T])`` with reference solutions.

  ``loss_mask`` is True on completion tokens and the final eos: the targets
  the model is trained to produce; with ``prompt_loss`` also on the prompt
  (language-model pretraining: every token after bos is a target).
  """
  ids = np.full((len(examples), max_len), tok.pad_id, np.int32)
  mask = np.zeros((len(examples), max_len), bool)
  for i, ex in enumerate(examples):
    prompt = tok.prefix + tok.encode(prompt_text(ex))
    completion = tok.encode(ex.solution) + [tok.eos_id]
    row = prompt + completion
    if len(row) > max_len:
      raise DataError(
          f"example {i} has {len(row)} tokens > sequence length "
          f"{max_len}; raise data.max_prompt_len or "
          "data.max_new_tokens"
      )
    ids[i, : len(row)] = row
    mask[i, 1 if prompt_loss else len(prompt) : len(row)] = True
  return ids, mask
