r"""GRPO from Qwen2.5 on GSM8K: the realistic run, on a TPU pod slice.

Needs local copies (nothing is downloaded): a Hugging Face checkpoint
directory (config.json, safetensors, tokenizer.json, tokenizer_config.json)
and GSM8K's train.jsonl / test.jsonl.

  python launch/tpu_pod.py --tpu=my-v5e-8 --zone=... -- \
      python -m reasoning_jax.main --config=configs/qwen25_gsm8k.py \
      --workdir=gs://bucket/runs/qwen05b_gsm8k \
      --config.init.hf_path=/data/Qwen2.5-0.5B-Instruct \
      --config.task.data_dir=/data/gsm8k

Variant ``1.5b`` (after a colon): Qwen2.5-1.5B on a v4-32 / v5e-32.

Prompts: ChatML with the question and "Let's think step by step."; the
reward is exact-match of the boxed or ``#### N`` answer. GRPO: 64 prompts
x 8 samples per step, 512 new tokens, minibatches of 64, KL 0.04.

Memory estimate, 0.5B (494M parameters, 24 layers, d 896, 14 heads / 2 KV
heads of 64, vocab 151,936), v5e-8 (8 chips x 16 GB), fsdp over all 8:

- train state: fp32 params 2.0 GB + Adam moments 4.0 GB + reference
  policy 2.0 GB = 8.0 GB, 1.0 GB per chip;
- gradients: 2.0 GB, 0.25 GB per chip;
- rollout KV cache (512 rows x 768 slots x 24 layers x 2 x 2 heads x 64,
  bf16): 4.8 GB, 0.6 GB per chip;
- learner activations with remat (64 x 768 x 896 bf16 per layer input,
  24 layers): 2.1 GB, plus the completion logits (64 x 512 x 151,936
  fp32): 19.9 GB, 2.5 GB per chip;
- about 4.6 GB of 16 GB per chip before XLA's temporaries. 1.5B (1.54B
  parameters, d 1536, 28 layers, 2 KV heads of 128) with 128 x 8 rollouts
  on v5e-32: state and gradients 30.8 GB, KV cache 22.5 GB, logits 39.8
  GB, activations 8.5 GB; about 3.2 GB per chip.

These are arithmetic from the shapes, not measurements: run
``reasoning_jax.bench`` on the slice (``configs/bench.py:qwen05b``) for
measured step times and memory.
"""

from reasoning_jax.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  c.stages = "rl"
  c.task.update(name="gsm8k", data_dir="")
  c.prompt.update(style="zero_shot_cot", chat="chatml")
  c.init.hf_path = ""  # set on the command line.
  c.model.update(dtype="bfloat16", param_dtype="float32", remat=True)
  c.data.update(max_prompt_len=256, max_new_tokens=512)
  c.rl.update(
      steps=500,
      num_prompts=64,
      group_size=8,
      minibatch_size=64,
      temperature=1.0,
      learning_rate=1e-6,
      kl_beta=0.04,
      eval_every=50,
  )
  c.eval.update(
      num_problems=1319, batch_size=256, every=50, periodic_problems=256
  )
  c.checkpoint.update(every=25, keep=3)
  c.mesh = dict(data=1, fsdp=-1, tensor=1)
  for v in (arg.split(",") if arg else []):
    if v == "1.5b":
      c.rl.update(num_prompts=128, minibatch_size=128)
    else:
      raise ValueError(f"unknown config variant {v!r}; known: 1.5b")
  return c
