"""What a decoder costs: FLOPs per token, per rollout and per training
step, and the least bytes a decode loop reads (for roofline fractions).

``m`` is any config with the ``ModelConfig`` fields (``d_model``,
``n_layers``, ``n_heads``, ``n_kv_heads``, ``head_dim``, ``d_ff``,
``vocab_size``, ``dtype``). Counts matmuls and attention only.
"""


def model_flops_per_token(m, context: float) -> float:
  """Forward FLOPs for one token attending to ``context`` positions.

  2 × (every matmul weight: q, k, v, o, gate, up, down, LM head) plus the
  attention scores and weighted values, 4 × heads × head_dim × context per
  layer. Embedding lookups, norms and softmax are not counted.
  """
  per_layer = (
      m.d_model * m.n_heads * m.head_dim * 2  # q and o.
      + m.d_model * m.n_kv_heads * m.head_dim * 2  # k and v.
      + 3 * m.d_model * m.d_ff
  )
  matmul = m.n_layers * per_layer + m.d_model * m.vocab_size
  attention = m.n_layers * 4 * m.n_heads * m.head_dim * context
  return 2.0 * matmul + attention


def rollout_flops(m, batch: int, prompt_len: int, new_tokens: int) -> float:
  """Prefill of ``prompt_len`` plus ``new_tokens`` decode steps, causal."""
  prefill = prompt_len * model_flops_per_token(m, (prompt_len + 1) / 2)
  decode = sum(
      model_flops_per_token(m, prompt_len + t + 1) for t in range(new_tokens)
  )
  return batch * (prefill + decode)


def rollout_bytes(
    m, batch: int, prompt_len: int, new_tokens: int, weight_bytes: int = 0
) -> float:
  """Memory traffic a decode loop cannot avoid: the least bytes it reads.

  Each of the ``new_tokens`` steps reads every matmul weight once in the
  compute dtype (q, k, v, o, gate, up, down and the LM head; not the
  embedding table, of which it reads B rows) and the keys and values of
  the positions written so far, ``prompt_len + t`` of them at step t.
  ``weight_bytes`` overrides the weights' size.
  """
  item = 2 if m.dtype in ("bfloat16", "float16") else 4
  per_layer = (
      m.d_model * (m.n_heads + m.n_kv_heads) * m.head_dim * 2
      + 3 * m.d_model * m.d_ff
  )
  weights = weight_bytes or item * (
      m.n_layers * per_layer + m.d_model * m.vocab_size
  )
  kv_per_pos = batch * m.n_layers * 2 * m.n_kv_heads * m.head_dim * item
  kv = kv_per_pos * sum(prompt_len + t for t in range(new_tokens))
  return new_tokens * weights + kv


def rollout_roofline_s(
    m,
    batch: int,
    prompt_len: int,
    new_tokens: int,
    group_size: int,
    peak_flops: float,
    bandwidth: float,
) -> float:
  """Least time for a rollout: prefill at peak FLOP/s, decode at peak bytes/s.

  Prefill is compute-bound (one pass over B / G shared prompts); each decode
  step is bandwidth-bound at these batch sizes (``rollout_bytes``).
  """
  prefill = (
      (batch // group_size)
      * prompt_len
      * model_flops_per_token(m, (prompt_len + 1) / 2)
  )
  return (
      prefill / peak_flops
      + rollout_bytes(m, batch, prompt_len, new_tokens) / bandwidth
  )


def train_flops(
    m, batch: int, seq_len: int, *, forwards: int, backwards: int
) -> float:
  """``forwards`` forward passes (a backward pass counts as two)."""
  per_seq = seq_len * model_flops_per_token(m, (seq_len + 1) / 2)
  return batch * per_seq * (forwards + 2 * backwards)
