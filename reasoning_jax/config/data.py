"""The task, its prompts, the tokenizer and the sequence lengths."""

import ml_collections

from reasoning_jax.config.checks import check
from reasoning_jax.data import prompts
from reasoning_jax.data import tasks


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  # Datasets (gsm8k, math, jsonl) read data_dir/{train,test}.jsonl; gsm8k
  # with tfds_data_dir goes through tensorflow-datasets (data_dir as the
  # manual directory); jsonl names its fields.
  c.task = dict(
      name="arith",
      difficulty=2,
      seed=0,
      data_dir="",
      tfds_data_dir="",
      question_field="question",
      answer_field="answer",
      solution_field="",
  )
  # Empty path: train a SentencePiece model on the corpus of `tasks` (and of
  # task.name when it is a built-in procedural task) and cache it.
  # Prompt style (plain | zero_shot_cot | boxed | few_shot_cot with `shots`
  # exemplars from the train split) and chat template (none | chatml |
  # llama3 | gemma), applied to every prompt of SFT, RL and evaluation.
  c.prompt = dict(style="plain", shots=4, chat="none")
  c.tokenizer = dict(
      path="", tasks="arith,countdown", vocab_size=256, cache_dir=""
  )
  c.data = dict(max_prompt_len=32, max_new_tokens=64)
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section."""
  _validate_task(config)
  _validate_data(config)


def _validate_task(config) -> None:
  """The task and its prompts."""
  check(
      config.task.name in tasks.task_names(),
      "task.name",
      f"unknown task; known: {tasks.task_names()}",
      config.task.name,
  )
  check(
      config.task.name not in ("gsm8k", "math", "jsonl")
      or bool(config.task.data_dir),
      "task.data_dir",
      "must name the directory with train.jsonl and test.jsonl for "
      f"task {config.task.name!r}",
      config.task.data_dir,
  )
  check(
      config.prompt.style in prompts.STYLES,
      "prompt.style",
      f"must be one of {prompts.STYLES}",
      config.prompt.style,
  )
  check(
      config.prompt.chat in prompts.CHAT,
      "prompt.chat",
      f"must be one of {sorted(prompts.CHAT)}",
      config.prompt.chat,
  )
  check(
      isinstance(config.prompt.shots, int) and config.prompt.shots >= 0,
      "prompt.shots",
      "must be an integer >= 0",
      config.prompt.shots,
  )
  check(
      1 <= config.task.difficulty <= 5,
      "task.difficulty",
      "must be in 1..5",
      config.task.difficulty,
  )


def _validate_data(config) -> None:
  """Sequence lengths."""
  for f in ("max_prompt_len", "max_new_tokens"):
    check(config.data[f] > 0, f"data.{f}", "must be > 0", config.data[f])
