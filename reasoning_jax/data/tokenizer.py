"""SentencePiece tokenizer: trained reproducibly on the task corpus, or loaded.

Ids 0/1/2/3 are pad/bos/eos/unk. ``<think>``, ``</think>``, ``\\boxed`` and the
newline are single pieces, digits are split one per piece, and the text is
kept byte-exact (identity normalisation, no dummy prefix, whitespace kept), so
``decode(encode(s)) == s`` on the corpus and step lines map to whole tokens.

Train one by command (the trainers do this automatically and cache it)::

  python -m reasoning_jax.data.tokenizer --out=/tmp/tok --tasks=arith,countdown
"""

import hashlib
import io
import json
import os

from absl import app
from absl import flags
import sentencepiece as spm
import tokenizers

from reasoning_jax import files
from reasoning_jax.data import tasks

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIAL_PIECES = ("<think>", "</think>", "\\boxed", "\n")
CORPUS_EXAMPLES = 4000  # per task, from the train split.


class Tokenizer:
  """Thin wrapper over a SentencePiece model.

  Our models have pad/bos/eos/unk = 0/1/2/3. Another model's ``.model``
  (Llama 2, Gemma) keeps its own ids; one without a pad id pads with the
  eos.
  """

  def __init__(self, model_path: str):
    if not os.path.exists(model_path):
      raise FileNotFoundError(f"tokenizer model not found: {model_path}")
    self.path = model_path
    self.sp = spm.SentencePieceProcessor(model_file=model_path)
    self.bos_id, self.eos_id = self.sp.bos_id(), self.sp.eos_id()
    if self.eos_id < 0:
      raise ValueError(f"{model_path}: the model has no eos id")
    self.bos_id = self.eos_id if self.bos_id < 0 else self.bos_id
    self.pad_id = self.sp.pad_id() if self.sp.pad_id() >= 0 else self.eos_id
    self.unk_id = self.sp.unk_id()
    self.prefix = [self.bos_id]  # what starts every sequence.

  @property
  def vocab_size(self) -> int:
    return self.sp.get_piece_size()

  def encode(self, text: str) -> list[int]:
    return self.sp.encode(text)

  def decode(self, ids) -> str:
    """Decodes ids, dropping pad/bos and everything from the first eos on.

    Ids past the tokenizer's vocabulary (a model's vocab is often padded up)
    decode as the unknown piece.
    """
    out, n = [], self.vocab_size
    for i in ids:
      i = int(i)
      if i == self.eos_id:
        break
      if i not in (self.pad_id, self.bos_id):
        out.append(i if 0 <= i < n else self.unk_id)
    return self.sp.decode(out)

  def piece_id(self, piece: str) -> int:
    return self.sp.piece_to_id(piece)

  def unknown_text(self, text: str) -> list[str]:
    """The parts of ``text`` that encode to the unknown piece (a model
    without byte fallback has no piece for characters it never saw)."""
    ids = self.sp.encode(text)
    if self.unk_id not in ids:  # the common case: one encode, no pieces.
      return []
    pieces = self.sp.encode(text, out_type=str)
    return [p for i, p in zip(ids, pieces) if i == self.unk_id]


class HFTokenizer:
  """A Hugging Face ``tokenizer.json`` (the ``tokenizers`` library) behind
  the same interface as ``Tokenizer``.

  Special ids come from ``tokenizer_config.json`` next to it (``bos_token``,
  ``eos_token``, ``pad_token``) unless given; a missing pad falls back to
  the eos, a missing bos to the eos too (Qwen has none). ``encode`` adds no
  special tokens (prompt building adds the bos).
  """

  def __init__(
      self,
      path: str,
      *,
      bos: str | None = None,
      eos: str | None = None,
      pad: str | None = None,
  ):
    file = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
    if not os.path.exists(file):
      raise FileNotFoundError(f"tokenizer not found: {file}")
    self.path = file
    self.tk = tokenizers.Tokenizer.from_file(file)
    conf = {}
    conf_path = os.path.join(os.path.dirname(file), "tokenizer_config.json")
    if os.path.exists(conf_path):
      with open(conf_path, encoding="utf-8") as f:
        conf = json.load(f)

    def token(name, given):
      t = given if given is not None else conf.get(name)
      if isinstance(t, dict):  # {"content": "<s>", ...}
        t = t.get("content")
      if t is None:
        return None
      i = self.tk.token_to_id(t)
      if i is None:
        raise ValueError(f"{file}: {name} {t!r} is not in the vocabulary")
      return i

    self.eos_id = token("eos_token", eos)
    if self.eos_id is None:
      raise ValueError(f"{file}: no eos token (pass eos=)")
    self.bos_id = token("bos_token", bos)
    self.bos_id = self.eos_id if self.bos_id is None else self.bos_id
    self.pad_id = token("pad_token", pad)
    self.pad_id = self.eos_id if self.pad_id is None else self.pad_id
    # What starts every sequence: the bos, unless the tokenizer says not to
    # add one (SmolLM2: its chat template opens with its own tokens).
    self.prefix = [self.bos_id] if conf.get("add_bos_token", True) else []

  @property
  def vocab_size(self) -> int:
    return self.tk.get_vocab_size(with_added_tokens=True)

  def encode(self, text: str) -> list[int]:
    return self.tk.encode(text, add_special_tokens=False).ids

  def decode(self, ids) -> str:
    """Decodes up to the first eos, dropping pad and bos (as ``Tokenizer``)."""
    out = []
    for i in ids:
      i = int(i)
      if i == self.eos_id:
        break
      if i not in (self.pad_id, self.bos_id) and 0 <= i < self.vocab_size:
        out.append(i)
    return self.tk.decode(out, skip_special_tokens=False)

  def piece_id(self, piece: str) -> int:
    i = self.tk.token_to_id(piece)
    return -1 if i is None else i

  def unknown_text(self, text: str) -> list[str]:
    """Nothing: byte-level BPE encodes any text."""
    del text
    return []


def load_tokenizer(path: str):
  """``Tokenizer`` for a SentencePiece ``.model``, ``HFTokenizer`` for a
  ``tokenizer.json`` or a directory holding one."""
  if path.endswith(".model"):
    return Tokenizer(path)
  return HFTokenizer(path)


def corpus(task_names, seed: int = 0, n: int = CORPUS_EXAMPLES) -> list[str]:
  """Prompt and solution lines of the first ``n`` train examples per task."""
  lines = []
  for name in task_names:
    task = tasks.get_task(name, seed=seed)
    for i in range(n):
      ex = task.example("train", i)
      lines += [ex.prompt + "\n", ex.solution]
  return lines


def train(lines: list[str], out_prefix: str, vocab_size: int = 256) -> str:
  """Trains a BPE model on ``lines``; returns the ``.model`` path."""
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(lines),
      model_writer=model,
      model_type="bpe",
      vocab_size=vocab_size,
      hard_vocab_limit=False,
      character_coverage=1.0,
      split_digits=True,
      byte_fallback=False,
      user_defined_symbols=list(SPECIAL_PIECES),
      normalization_rule_name="identity",
      add_dummy_prefix=False,
      remove_extra_whitespaces=False,
      split_by_whitespace=True,
      pad_id=PAD_ID,
      bos_id=BOS_ID,
      eos_id=EOS_ID,
      unk_id=UNK_ID,
      num_threads=1,
      minloglevel=2,
  )
  path = out_prefix + ".model"
  with files.atomic_write(path, "wb") as f:  # readers never see half of it.
    f.write(model.getvalue())
  return path


def get_tokenizer(
    path: str,
    cache_dir: str,
    task_names,
    *,
    seed: int = 0,
    vocab_size: int = 256,
) -> Tokenizer:
  """Loads ``path`` if given, else trains (once) and caches in ``cache_dir``."""
  if path:
    return load_tokenizer(path)
  key = hashlib.sha256(
      repr((
          sorted(task_names),
          seed,
          vocab_size,
          CORPUS_EXAMPLES,
          SPECIAL_PIECES,
          (tasks.TEST_PERCENT, tasks.DEV_PERCENT),  # what "train" holds.
      )).encode()
  )
  prefix = os.path.join(cache_dir, f"spm_{key.hexdigest()[:12]}")
  if not os.path.exists(prefix + ".model"):  # processes sharing the cache
    train(corpus(task_names, seed), prefix, vocab_size)  # never read half.
  return Tokenizer(prefix + ".model")


def main(argv):
  del argv
  f = flags.FLAGS
  tok = get_tokenizer(
      "", f.out, f.tasks.split(","), seed=f.seed, vocab_size=f.vocab_size
  )
  print(f"{tok.path}: {tok.vocab_size} pieces")


if __name__ == "__main__":
  flags.DEFINE_string("out", "tokenizers", "Cache directory.")
  flags.DEFINE_string("tasks", "arith,countdown", "Comma-separated tasks.")
  flags.DEFINE_integer("seed", 0, "Task seed of the corpus.")
  flags.DEFINE_integer("vocab_size", 256, "Target vocabulary size.")
  app.run(main)
