"""Prompt templates and chat templates, chosen by config (``config.prompt``).

Styles: ``plain`` (the question as is), ``zero_shot_cot`` (Kojima et al.
2022: the question, then "Let's think step by step."), ``few_shot_cot``
(Wei et al. 2022: k worked exemplars from the train split, then the
question), ``boxed`` (the question, then an instruction in words to put the
final answer in \\boxed{}: for instruction-tuned models). Chat templates wrap the result as one user turn and open the
assistant turn, for the supported families: ``chatml`` (Qwen2 / Qwen2.5),
``smollm2`` (SmolLM2-Instruct: chatml with its own system turn), ``llama3``,
``gemma``; ``none`` leaves it bare. Encoding adds the bos
before and the newline after (``encoding.prompt_text``), so no template
writes them. Templates are fixed strings
here, never a checkpoint's Jinja code.

``PromptedTask`` applies a style and template to every example of a task,
so SFT, RL, evaluation and search all see the same prompts; answers are
still checked against the original example.
"""

import dataclasses
import random

from reasoning_jax.data import tasks

STYLES = ("plain", "zero_shot_cot", "few_shot_cot", "boxed")
COT_TRIGGER = "Let's think step by step."
BOXED = "Put the final answer in \\boxed{}."  # for instruction-tuned models.
CHAT = {
    "none": "{prompt}",
    "chatml": (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n{prompt}<|im_end|>\n"
        "<|im_start|>assistant"
    ),
    # SmolLM2-Instruct's template (chatml with its own default system turn).
    "smollm2": (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
        "trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\n{prompt}<|im_end|>\n"
        "<|im_start|>assistant"
    ),
    "llama3": (
        "<|start_header_id|>user<|end_header_id|>\n\n{prompt}"
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
    ),
    "gemma": "<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model",
}


def exemplars(task, k: int, seed: int) -> list[tasks.Example]:
  """k train examples for few-shot prompts, drawn once by ``seed``."""
  rng = random.Random(seed)
  pool = task.size("train") if hasattr(task, "size") else 10_000  # a file's.
  idx = rng.sample(range(pool), min(k, pool))
  return [task.example("train", i) for i in idx]


def format_prompt(
    question: str,
    *,
    style: str = "plain",
    shots: tuple = (),
    chat: str = "none",
) -> str:
  """The prompt text for ``question`` (see the module docstring)."""
  if style not in STYLES:
    raise ValueError(f"prompt style must be one of {STYLES}, got {style!r}")
  if chat not in CHAT:
    raise ValueError(
        f"chat template must be one of {sorted(CHAT)}, got {chat!r}"
    )
  if style == "zero_shot_cot":
    question = f"{question}\n{COT_TRIGGER}"
  elif style == "boxed":
    question = f"{question}\n{BOXED}"
  elif style == "few_shot_cot":
    blocks = [f"Question: {ex.prompt}\nAnswer: {ex.solution}" for ex in shots]
    question = "\n\n".join(blocks + [f"Question: {question}\nAnswer:"])
  return CHAT[chat].format(prompt=question)


@dataclasses.dataclass
class PromptedTask:
  """``task`` with every prompt formatted by ``format_prompt``."""

  task: object
  style: str = "plain"
  chat: str = "none"
  shots: tuple = ()

  def __post_init__(self):
    self.name = self.task.name
    self._original = {}

  def example(self, split: str, index: int) -> tasks.Example:
    ex = self.task.example(split, index)
    prompt = format_prompt(
        ex.prompt, style=self.style, shots=self.shots, chat=self.chat
    )
    self._original[prompt] = ex
    return tasks.Example(prompt, ex.answer, ex.solution)

  def is_correct(self, completion: str, example: tasks.Example) -> bool:
    return self.task.is_correct(
        completion, self._original.get(example.prompt, example)
    )

  def __getattr__(self, name):  # step_is_correct, size, ... of the task.
    if name.startswith("_"):
      raise AttributeError(name)
    return getattr(self.task, name)
