"""Hugging Face tokenizers behind our interface; prompt and chat templates."""

import json

import pytest

from reasoning_jax.data import prompts
from reasoning_jax.data import tasks
from reasoning_jax.data import tokenizer

TEXT = [
    "Tom has 3 apples.\n#### 7",
    "Let's think step by step.",
    "<|im_start|>user\nWhat is 6*7?<|im_end|>\n",
    "ünïcödé 1,234",
]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
  from tokenizers import decoders  # pylint: disable=g-import-not-at-top
  from tokenizers import models
  from tokenizers import pre_tokenizers
  from tokenizers import Tokenizer
  from tokenizers import trainers

  tk = Tokenizer(models.BPE())
  tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tk.decoder = decoders.ByteLevel()
  specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
  tk.train_from_iterator(
      TEXT * 20 + ["The answer is 42."] * 20,
      trainers.BpeTrainer(
          vocab_size=300,
          special_tokens=specials,
          initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
      ),
  )
  d = tmp_path_factory.mktemp("hf_tok")
  tk.save(str(d / "tokenizer.json"))
  (d / "tokenizer_config.json").write_text(
      json.dumps({
          "eos_token": "<|im_end|>",
          "pad_token": "<|endoftext|>",
          "bos_token": None,
      })
  )
  return d


def test_hf_tokenizer_matches_transformers(hf_dir):
  transformers = pytest.importorskip("transformers")
  ref = transformers.PreTrainedTokenizerFast(
      tokenizer_file=str(hf_dir / "tokenizer.json")
  )
  tok = tokenizer.load_tokenizer(str(hf_dir))
  for text in TEXT:
    ids = tok.encode(text)
    assert ids == ref.encode(text, add_special_tokens=False)
    upto = ids[: ids.index(tok.eos_id)] if tok.eos_id in ids else ids
    assert tok.decode(ids) == ref.decode(upto) == text.split("<|im_end|>")[0]
  assert tok.eos_id == ref.convert_tokens_to_ids("<|im_end|>")
  assert tok.pad_id == ref.convert_tokens_to_ids("<|endoftext|>")
  assert tok.bos_id == tok.eos_id  # none given: Qwen style.
  assert tok.piece_id("<|im_start|>") == ref.convert_tokens_to_ids(
      "<|im_start|>"
  )
  # decode stops at the eos and drops padding.
  ids = tok.encode("6*7")
  assert tok.decode([tok.pad_id] + ids + [tok.eos_id] + ids) == "6*7"


def test_hf_tokenizer_bad_special_token_is_named(hf_dir):
  with pytest.raises(ValueError, match="eos_token '<nope>' is not in"):
    tokenizer.HFTokenizer(str(hf_dir), eos="<nope>")


def test_prompt_styles_and_chat_templates():
  shots = (tasks.Example("1+1?", "2", "<think>\n1+1\n</think>\n\\boxed{2}"),)
  assert prompts.format_prompt("Q?") == "Q?"
  assert prompts.format_prompt("Q?", style="zero_shot_cot") == (
      "Q?\nLet's think step by step."
  )
  assert prompts.format_prompt("Q?", style="few_shot_cot", shots=shots) == (
      "Question: 1+1?\nAnswer: <think>\n1+1\n</think>\n\\boxed{2}\n\n"
      "Question: Q?\nAnswer:"
  )
  assert prompts.format_prompt("Q?", chat="chatml") == (
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant"
  )
  assert prompts.format_prompt("Q?", chat="gemma") == (
      "<start_of_turn>user\nQ?<end_of_turn>\n<start_of_turn>model"
  )
  with pytest.raises(ValueError, match="prompt style"):
    prompts.format_prompt("Q?", style="tree")


def test_prompted_task_checks_answers_against_the_original():
  base = tasks.get_task("countdown", seed=0, difficulty=1)
  task = prompts.PromptedTask(
      base, "few_shot_cot", "llama3", tuple(prompts.exemplars(base, 2, seed=0))
  )
  ex, raw = task.example("test", 3), base.example("test", 3)
  assert ex.prompt.startswith("<|start_header_id|>user")
  assert raw.prompt in ex.prompt and ex.prompt.count("Question:") == 3
  assert task.is_correct(raw.solution, ex)  # parses the original prompt.
  assert not task.is_correct("\\boxed{1+1}", ex)
  assert task.step_is_correct("7*3=21", ex)  # the task's own methods.


def test_foreign_sentencepiece_model_keeps_its_ids(tmp_path):
  """A Llama-2-style .model (unk 0, bos 1, eos 2, no pad) loads with its own
  ids and encodes like sentencepiece itself."""
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top

  lines = tokenizer.corpus(["arith"], n=200)
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(lines),
      model_prefix=str(tmp_path / "llama2"),
      vocab_size=120,
      model_type="bpe",
      unk_id=0,
      bos_id=1,
      eos_id=2,
      pad_id=-1,
  )
  path = str(tmp_path / "llama2.model")
  tok = tokenizer.load_tokenizer(path)
  ref = spm.SentencePieceProcessor(model_file=path)
  assert (tok.bos_id, tok.eos_id, tok.pad_id) == (1, 2, 2)
  for text in ("Compute 10*3-2.", "\\boxed{28}"):
    assert tok.encode(text) == ref.encode(text)
    assert tok.decode([1] + tok.encode(text) + [2, 5]) == ref.decode(
        ref.encode(text)
    )
