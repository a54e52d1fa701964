"""SentencePiece tokenizer: exact round trip, single-piece specials, caching."""

import os

import pytest

from reasoning_jax.data import encoding
from reasoning_jax.data import tokenizer
from reasoning_jax.data.arith import Arith


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
  return tokenizer.get_tokenizer(
      "", str(tmp_path_factory.mktemp("tok")), ["arith", "countdown"]
  )


def test_round_trip_and_special_pieces(tok):
  ex = Arith().example("test", 3)
  for text in (ex.prompt + "\n", ex.solution, "Compute 1+2.\n<think>\n3"):
    assert tok.decode(tok.encode(text)) == text
  for piece in tokenizer.SPECIAL_PIECES:
    assert tok.encode(piece) == [tok.piece_id(piece)]
  # Digits are split: "12345" is five pieces, each a digit.
  assert [tok.sp.id_to_piece(i) for i in tok.encode("12345")] == list("12345")
  assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)


def test_decode_stops_at_eos_and_drops_pad(tok):
  ids = [tok.bos_id] + tok.encode("12") + [tok.eos_id] + tok.encode("9")
  assert tok.decode(ids) == "12"
  assert tok.decode([0, 0] + tok.encode("7")) == "7"


def test_training_is_reproducible_and_cached(tmp_path, tok):
  again = tokenizer.get_tokenizer("", str(tmp_path), ["arith", "countdown"])
  with open(again.path, "rb") as a, open(tok.path, "rb") as b:
    assert a.read() == b.read()
  mtime = os.path.getmtime(again.path)
  cached = tokenizer.get_tokenizer("", str(tmp_path), ["arith", "countdown"])
  assert cached.path == again.path and os.path.getmtime(cached.path) == mtime
  # An explicit model file is loaded as is.
  assert tokenizer.get_tokenizer(tok.path, "", []).vocab_size == tok.vocab_size
  with pytest.raises(FileNotFoundError, match="no_such.model"):
    tokenizer.Tokenizer(str(tmp_path / "no_such.model"))


def test_encodings_left_pad_prompts_and_mask_completions(tok):
  exs = [Arith().example("train", i) for i in range(3)]
  ids, valid = encoding.encode_prompts(
      tok, [encoding.prompt_text(e) for e in exs], 24
  )
  for row, v, e in zip(ids, valid, exs):
    assert row[v][0] == tok.bos_id and v[-1]
    assert tok.decode(row) == e.prompt + "\n"
  seq, mask = encoding.encode_sft(tok, exs, 64)
  for row, m, e in zip(seq, mask, exs):
    assert tok.decode(row[m]) == e.solution  # eos ends the decode.
    assert row[m][-1] == tok.eos_id
    assert tok.decode(row[~m]) == e.prompt + "\n"
  with pytest.raises(ValueError, match="max_prompt_len"):
    encoding.encode_prompts(tok, ["1" * 50], 24)
