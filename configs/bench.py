r"""The standard RL benchmark workload (``peers-standard-v1``) and a large one.

  python -m reasoning_jax.bench --config=configs/bench.py --workdir=runs/bench
  python -m reasoning_jax.bench --config=configs/bench.py:qwen05b ...  # GPU

Default: ``../shared/workload.json`` mirrored — a random-init 3.2M-parameter
Llama-style policy (vocab 512, hidden 256, 4 layers, 4 heads / 2 KV heads,
MLP 704, float32), 16 prompts × 8 samples of 32 prompt tokens and exactly 64
new tokens (no early stop) at temperature 1, reward = fraction of even ids,
one GRPO update (AdamW lr 1e-5, clip 0.2, k3 KL 0.04, per-sequence token mean
then batch mean, no gradient clipping), its gradient summed over 16 chunks
of 8 sequences (``rl.microbatches``, PPO's too). ``qwen05b``: a
Qwen2.5-0.5B-shaped policy in bfloat16 with 1,024-token sequences (512
prompt + 512 new), batch 256 for the rollout, for an NVIDIA GPU
(``launch/gpu_bench.sh``; on a TPU add ``--config.model.attention=xla``).
"""

from reasoning_jax.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  c.model.update(
      vocab_size=512,
      d_model=256,
      n_layers=4,
      n_heads=4,
      n_kv_heads=2,
      head_dim=64,
      d_ff=704,
      rope_theta=10_000.0,
      rms_eps=1e-6,
      tie_embeddings=False,
      dtype="float32",
      param_dtype="float32",
      init_std=0.02,
  )
  c.data.update(max_prompt_len=32, max_new_tokens=64)
  c.rl.update(
      num_prompts=16,
      group_size=8,
      temperature=1.0,
      top_k=0,
      top_p=1.0,
      num_updates=1,
      minibatch_size=128,
      # The one update's gradient in 16 chunks of 8 sequences: the same
      # step, 0.95 s instead of 1.45 s on a 2-core CPU (BENCHMARKS.md).
      microbatches=16,
      learning_rate=1e-5,
      b1=0.9,
      b2=0.999,
      weight_decay=0.0,
      max_grad_norm=0.0,
      clip_eps=0.2,
      kl_beta=0.04,
      loss_reduction="seq_mean",
      advantage="grpo",
  )
  for v in (arg.split(",") if arg else []):
    if v == "qwen05b":
      c.model.update(
          vocab_size=151_936,
          d_model=896,
          n_layers=24,
          n_heads=14,
          n_kv_heads=2,
          head_dim=64,
          d_ff=4864,
          rope_theta=1_000_000.0,
          qkv_bias=True,
          tie_embeddings=True,
          dtype="bfloat16",
          param_dtype="float32",
      )
      c.data.update(max_prompt_len=512, max_new_tokens=512)
      # cuDNN flash attention (NVIDIA GPUs; "xla" elsewhere), no remat:
      # 42% MFU on an H100 against 36% with remat (BENCHMARKS.md).
      c.model.update(attention="cudnn", remat=False)
      c.rl.update(
          num_prompts=8, group_size=4, minibatch_size=32, microbatches=1
      )
      c.bench.update(rollout_batch=256, timed_reps=3, algorithms="grpo")
    elif v == "quick":  # for tests: a tiny model, one timed repetition.
      c.model.update(
          vocab_size=64,
          d_model=32,
          n_layers=2,
          n_heads=2,
          n_kv_heads=1,
          head_dim=16,
          d_ff=64,
      )
      c.data.update(max_prompt_len=8, max_new_tokens=8)
      c.rl.update(num_prompts=4, group_size=2, minibatch_size=8, microbatches=2)
      c.bench.update(timed_reps=1, peak_flops=1e11)
    else:
      raise ValueError(f"unknown config variant {v!r}; known: qwen05b, quick")
  return c
