"""Hugging Face import/export against ``transformers`` (PyTorch, CPU).

Each test builds a small random checkpoint of one family with
``transformers``, imports it and compares our float32 logits with the
reference model's; exports go back through ``transformers`` too.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasoning_jax.models import hf
from reasoning_jax.models.heads import CausalLM

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SMALL = dict(
    vocab_size=96,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    intermediate_size=48,
    max_position_embeddings=128,
    rms_norm_eps=1e-5,
    rope_theta=500.0,
)
FAMILIES = {
    # GQA, untied, llama3 rope scaling.
    "llama": (
        "LlamaConfig",
        "LlamaForCausalLM",
        dict(
            tie_word_embeddings=False,
            rope_scaling={
                "rope_type": "llama3",
                "factor": 4.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
        ),
    ),
    # q/k/v biases, tied embeddings.
    "qwen2": (
        "Qwen2Config",
        "Qwen2ForCausalLM",
        dict(tie_word_embeddings=True),
    ),
    # (1 + w) norms, GeGLU, scaled embeddings, tied.
    "gemma": (
        "GemmaConfig",
        "GemmaForCausalLM",
        dict(hidden_activation="gelu_pytorch_tanh"),
    ),
}


def _reference(family, path, shard=False):
  cfg_cls, model_cls, extra = FAMILIES[family]
  torch.manual_seed(0)
  config = getattr(transformers, cfg_cls)(**SMALL, **extra)
  model = getattr(transformers, model_cls)(config).eval()
  with torch.no_grad():  # random norms and biases too, not just ones/zeros.
    for p in model.parameters():
      p.normal_(0.0, 0.3)
  model.save_pretrained(path, max_shard_size="40KB" if shard else "5GB")
  return model


def _hf_logits(model, ids):
  with torch.no_grad():
    return model(torch.tensor(ids)).logits.numpy()


def _our_logits(params, cfg, ids):
  ids = jnp.asarray(ids)
  pos = jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
  return np.asarray(
      CausalLM(cfg).apply({"params": params}, ids, pos, ids >= 0)[0]
  )


IDS = np.random.default_rng(0).integers(0, 96, (2, 24))  # past 16: scaled.


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_import_matches_transformers_logits(tmp_path, family):
  shard = family == "llama"
  model = _reference(family, tmp_path, shard=shard)
  assert os.path.exists(tmp_path / hf.INDEX) == shard
  params, cfg = hf.load_checkpoint(str(tmp_path))
  assert cfg.n_kv_heads == 2 and cfg.tie_embeddings == (family != "llama")
  assert cfg.qkv_bias == (family == "qwen2")
  np.testing.assert_allclose(
      _our_logits(params, cfg, IDS),
      _hf_logits(model, IDS),
      atol=1e-4,
      rtol=1e-4,
  )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_export_round_trips_and_loads_in_transformers(tmp_path, family):
  model = _reference(family, tmp_path / "src")
  params, cfg = hf.load_checkpoint(str(tmp_path / "src"))
  hf.save_checkpoint(
      str(tmp_path / "out"), params, cfg, family, max_shard_bytes=30_000
  )
  assert os.path.exists(tmp_path / "out" / hf.INDEX)
  again, cfg2 = hf.load_checkpoint(str(tmp_path / "out"))
  assert cfg2 == cfg
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  served = transformers.AutoModelForCausalLM.from_pretrained(
      tmp_path / "out"
  ).eval()
  np.testing.assert_allclose(
      _hf_logits(served, IDS), _hf_logits(model, IDS), atol=1e-5, rtol=1e-5
  )


def test_loading_into_mesh_shardings(tmp_path):
  """Tensors go straight into the given shardings (fsdp x tensor mesh)."""
  from reasoning_jax.config import base_config  # pylint: disable=g-import-not-at-top
  from reasoning_jax.parallel import sharding  # pylint: disable=g-import-not-at-top

  if jax.device_count() < 4:  # rerun in a process with 4 host devices.
    import subprocess  # pylint: disable=g-import-not-at-top
    import sys  # pylint: disable=g-import-not-at-top

    env = {
        **os.environ,
        "XLA_FLAGS": (
            os.environ.get("XLA_FLAGS", "")
            + " --xla_force_host_platform_device_count=4"
        ),
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_loading_into_mesh_shardings",
            f"--basetemp={tmp_path / 'sub'}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout[-3000:]
    return
  model = _reference("qwen2", tmp_path)
  cfg = hf.model_config(hf.read_config(str(tmp_path)))
  mesh = sharding.make_mesh({"data": 1, "fsdp": 2, "tensor": 2})
  shardings = sharding.param_shardings(
      CausalLM(cfg), mesh, base_config().logical_axis_rules
  )
  params, _ = hf.load_checkpoint(str(tmp_path), cfg, shardings)
  q = params["model"]["layers_0"]["self_attn"]["q_proj"]
  assert q.sharding == shardings["model"]["layers_0"]["self_attn"]["q_proj"]
  assert len(q.addressable_shards) == 4
  assert q.addressable_shards[0].data.shape == (16, 2, 8)  # D/fsdp, H/tensor.
  np.testing.assert_allclose(
      _our_logits(params, cfg, IDS),
      _hf_logits(model, IDS),
      atol=1e-4,
      rtol=1e-4,
  )


def test_bad_checkpoints_are_named(tmp_path):
  _reference("llama", tmp_path)
  config = hf.read_config(str(tmp_path))
  with pytest.raises(hf.CheckpointError, match="unsupported model_type 'gpt2'"):
    hf.model_config({**config, "model_type": "gpt2"})
  with pytest.raises(hf.CheckpointError, match="rope_scaling type 'yarn'"):
    hf.model_config(
        {**config, "rope_scaling": {"rope_type": "yarn", "factor": 2.0}}
    )
  # A checkpoint missing a tensor: drop one from a re-saved copy.
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import save_file

  tensors = load_file(str(tmp_path / hf.SINGLE))
  del tensors["model.layers.1.mlp.up_proj.weight"]
  save_file(tensors, str(tmp_path / hf.SINGLE))
  with pytest.raises(
      hf.CheckpointError, match=r"missing tensors \['model.layers.1.mlp.up_proj"
  ):
    hf.load_checkpoint(str(tmp_path))
  tensors["model.layers.1.mlp.up_proj.weight"] = tensors[
      "model.layers.0.mlp.up_proj.weight"
  ]
  tensors["model.layers.9.mlp.extra.weight"] = tensors["model.norm.weight"]
  save_file(tensors, str(tmp_path / hf.SINGLE))
  with pytest.raises(hf.CheckpointError, match="no place in the model"):
    hf.load_checkpoint(str(tmp_path))
  os.remove(tmp_path / hf.SINGLE)
  with pytest.raises(hf.CheckpointError, match="neither"):
    hf.load_checkpoint(str(tmp_path))


def test_pipeline_starts_from_a_pretrained_checkpoint(tmp_path):
  """``init.hf_path``: a Qwen2 checkpoint and its tokenizer.json (pad and
  eos not ours) go through SFT and GRPO; the run's model starts with the
  checkpoint's logits."""
  import importlib.util  # pylint: disable=g-import-not-at-top

  from tokenizers import decoders  # pylint: disable=g-import-not-at-top
  from tokenizers import models
  from tokenizers import pre_tokenizers
  from tokenizers import Tokenizer
  from tokenizers import trainers

  from reasoning_jax import pipeline  # pylint: disable=g-import-not-at-top
  from reasoning_jax.data import tokenizer as tok_lib  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import context  # pylint: disable=g-import-not-at-top

  ckpt = tmp_path / "qwen"
  tk = Tokenizer(models.BPE())
  tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tk.decoder = decoders.ByteLevel()
  tk.train_from_iterator(
      tok_lib.corpus(["arith"], n=300),
      trainers.BpeTrainer(
          vocab_size=320,
          special_tokens=["<|endoftext|>", "<|im_end|>"],
          initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
      ),
  )
  ckpt.mkdir()
  tk.save(str(ckpt / "tokenizer.json"))
  (ckpt / "tokenizer_config.json").write_text(
      json.dumps({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
  )
  torch.manual_seed(0)
  ref = transformers.Qwen2ForCausalLM(
      transformers.Qwen2Config(
          **{**SMALL, "vocab_size": 352}, tie_word_embeddings=True
      )
  ).eval()
  ref.save_pretrained(ckpt)
  spec = importlib.util.spec_from_file_location(
      "_default",
      os.path.join(
          os.path.dirname(__file__), "..", "..", "configs", "default.py"
      ),
  )
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  c = mod.get_config("arith,smoke")  # the task its tokenizer was built on.
  c.init.hf_path = str(ckpt)
  c.data.max_prompt_len = 24
  ctx = context.build_context(c, str(tmp_path / "run"))
  assert (ctx.tok.pad_id, ctx.tok.eos_id) == (
      tk.token_to_id("<|endoftext|>"),
      tk.token_to_id("<|im_end|>"),
  )
  ids = np.asarray([ctx.tok.encode("Compute 10*3-2.\n<think>")])
  np.testing.assert_allclose(
      _our_logits(context.initial_params(ctx), ctx.model.cfg, ids),
      _hf_logits(ref, ids),
      atol=1e-4,
      rtol=1e-4,
  )
  summary = pipeline.train_and_evaluate(c, str(tmp_path / "run"))
  assert summary["rl_grpo"]["num_problems"] == 16
  rows = [json.loads(x) for x in open(tmp_path / "run" / "metrics.jsonl")]
  losses = [r["loss"] for r in rows if r.get("stage") == "sft" and "loss" in r]
  assert losses and all(np.isfinite(losses))
  rl_rows = [r for r in rows if r.get("stage") == "rl_grpo" and "loss" in r]
  assert max(r["adv_std"] for r in rl_rows) > 0.1  # GRPO had signal.
  assert max(r["grad_norm"] for r in rl_rows) > 1e-2
  # A rerun skips every stage and reads the start's evaluation back from
  # its record instead of evaluating it again; another eval set redoes it.
  record = tmp_path / "run" / "stages" / "init.json"
  written = record.stat().st_mtime_ns
  again = pipeline.train_and_evaluate(c, str(tmp_path / "run"))
  assert again["init"] == summary["init"]
  assert record.stat().st_mtime_ns == written
  c.eval.num_problems = 8
  other = pipeline.train_and_evaluate(c, str(tmp_path / "run"))
  assert other["init"]["num_problems"] == 8
  assert summary["init"]["num_problems"] == 16
