r"""Public datasets from local files: GSM8K, MATH and any question/answer JSONL.

Nothing is downloaded. Each source becomes a task (``data.tasks``) whose
examples are the file's records, so SFT, RL, evaluation and search use them
exactly like the procedural tasks:

- ``gsm8k``: JSONL records ``{"question", "answer"}`` whose answer ends
  with ``#### N`` (the released format), read from ``<dir>/{train,test}
  .jsonl``; or the same files as a tensorflow-datasets manual directory,
  prepared once into array_record files and read back with
  ``tfds.data_source`` (no TensorFlow needed);
- ``math``: JSONL records ``{"problem", "solution"}`` whose solution holds
  the final ``\boxed{..}`` (Hendrycks et al. 2021);
- ``jsonl``: any JSONL with configurable question / answer / solution
  field names.

The reference solution for SFT is the dataset's worked solution inside a
think block, then the boxed answer: ``<think>\n..\n</think>\n\boxed{N}``.
Answers are checked with ``rewards.answers_match`` (exact rationals,
normalised TeX) on the answer ``rewards.extract_answer`` reads (boxed,
``#### N``, or "the answer is"). A malformed line is an error naming its
file and line. Record ``i`` of a split is example ``i``; there is no
wrap-around: reading past the end is a ``DataError`` naming the counts.
The files are ``train.jsonl``, ``test.jsonl`` and, optionally,
``dev.jsonl`` (the split every choice and periodic evaluation uses; without
it periodic evaluations read the test split, with a warning).
"""

import dataclasses
import json
import os
import re

from reasoning_jax.data import tasks
from reasoning_jax.rewards import answers as answers_lib

_CALC = re.compile(r"<<[^<>]{0,200}>>")  # GSM8K calculator annotations.


class DataError(ValueError):
  """A dataset file is missing or malformed; the message says where."""


def read_jsonl(path: str, fields: tuple[str, ...]) -> list[dict]:
  """Records of a JSONL file, each an object with string ``fields``."""
  if not os.path.exists(path):
    raise DataError(f"{path}: no such file")
  out = []
  with open(path, "rb") as f:
    for n, raw in enumerate(f, 1):
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise DataError(
            f"{path}:{n}: not UTF-8 (byte 0x{raw[e.start]:02x} "
            f"at column {e.start + 1})"
        ) from None
      if not line.strip():
        continue
      try:
        rec = json.loads(line)
      except json.JSONDecodeError as e:
        raise DataError(f"{path}:{n}: not JSON ({e.msg})") from None
      if not isinstance(rec, dict):
        raise DataError(f"{path}:{n}: expected a JSON object")
      for k in fields:
        if not isinstance(rec.get(k), str):
          raise DataError(f"{path}:{n}: field {k!r} missing or not a string")
      out.append(rec)
  if not out:
    raise DataError(f"{path}: no records")
  return out


def think_solution(reasoning: str, answer: str) -> str:
  """Worked reasoning in a think block, then the boxed answer."""
  lines = [ln.strip() for ln in reasoning.strip().split("\n") if ln.strip()]
  return "<think>\n" + "\n".join(lines) + "\n</think>\n\\boxed{" + answer + "}"


def gsm8k_example(question: str, answer: str, where: str) -> tasks.Example:
  """A GSM8K record: reasoning lines (calculator annotations dropped), then
  ``#### N``."""
  final = answers_lib.gsm8k_tail(answer)
  if final is None:
    raise DataError(f"{where}: answer has no '#### N' line")
  reasoning = _CALC.sub("", answer[: answer.rfind("####")])
  return tasks.Example(
      question.strip(), final, think_solution(reasoning, final)
  )


def math_example(problem: str, solution: str, where: str) -> tasks.Example:
  r"""A MATH record: the solution, whose last ``\boxed{..}`` is the answer."""
  final = answers_lib.extract_boxed(solution)
  if final is None:
    raise DataError(f"{where}: solution has no \\boxed{{}} answer")
  return tasks.Example(problem.strip(), final, think_solution(solution, final))


@dataclasses.dataclass
class RecordTask:
  """A task over fixed train / test example lists."""

  name: str
  splits: dict  # split -> list[Example]

  def example(self, split: str, index: int) -> tasks.Example:
    if split not in self.splits:
      raise ValueError(f"{self.name}: no {split!r} split")
    exs = self.splits[split]
    if not 0 <= index < len(exs):
      raise DataError(
          f"{self.name}: {split} record {index} requested but the "
          f"{split} file has {len(exs)}: a run never reuses "
          "records; lower the counts that read them"
      )
    return exs[index]

  def size(self, split: str) -> int:
    """Records in ``split`` (0 when the files have no such split)."""
    return len(self.splits.get(split, ()))

  def is_correct(self, completion: str, example: tasks.Example) -> bool:
    return answers_lib.answers_match(
        answers_lib.extract_answer(completion), example.answer
    )


def _split_files(data_dir: str) -> dict:
  if not data_dir:
    raise DataError(
        "set task.data_dir to the directory holding train.jsonl and test.jsonl"
    )
  out = {s: os.path.join(data_dir, f"{s}.jsonl") for s in ("train", "test")}
  dev = os.path.join(data_dir, "dev.jsonl")  # optional.
  if os.path.exists(dev):
    out["dev"] = dev
  return out


def load_gsm8k(data_dir: str) -> RecordTask:
  splits = {}
  for split, path in _split_files(data_dir).items():
    recs = read_jsonl(path, ("question", "answer"))
    splits[split] = [
        gsm8k_example(r["question"], r["answer"], f"{path}:{i + 1}")
        for i, r in enumerate(recs)
    ]
  return RecordTask("gsm8k", splits)


def load_math(data_dir: str) -> RecordTask:
  splits = {}
  for split, path in _split_files(data_dir).items():
    recs = read_jsonl(path, ("problem", "solution"))
    splits[split] = [
        math_example(r["problem"], r["solution"], f"{path}:{i + 1}")
        for i, r in enumerate(recs)
    ]
  return RecordTask("math", splits)


def load_jsonl(
    data_dir: str,
    *,
    question: str = "question",
    answer: str = "answer",
    solution: str = "",
) -> RecordTask:
  """Generic records: ``question`` and ``answer`` fields (the answer is
  the final answer itself), and optionally a worked ``solution``."""
  splits = {}
  for split, path in _split_files(data_dir).items():
    fields = (question, answer) + ((solution,) if solution else ())
    recs = read_jsonl(path, fields)
    splits[split] = [
        tasks.Example(
            r[question].strip(),
            r[answer].strip(),
            think_solution(r[solution] if solution else "", r[answer].strip()),
        )
        for r in recs
    ]
  return RecordTask("jsonl", splits)


def gsm8k_tfds(manual_dir: str, data_dir: str) -> RecordTask:
  """GSM8K through tensorflow-datasets: the JSONL files in ``manual_dir``
  are prepared once into ``data_dir`` (array_record) and read back with
  ``data_source``; nothing is downloaded."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = _gsm8k_builder(tfds)(data_dir=data_dir)
  builder.download_and_prepare(
      file_format="array_record",
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir),
  )
  splits = {}
  for split in ("train", "test"):
    src = builder.as_data_source(split=split)
    splits[split] = [
        gsm8k_example(
            _text(r["question"]),
            _text(r["answer"]),
            f"{builder.name}/{split}[{i}]",
        )
        for i, r in enumerate(src)
    ]
  return RecordTask("gsm8k", splits)


def _text(x) -> str:
  return x.decode("utf-8") if isinstance(x, bytes) else str(x)


_BUILDER = None


def _gsm8k_builder(tfds):
  """A tfds builder that reads GSM8K JSONL from the manual directory (the
  stock one downloads)."""
  global _BUILDER
  if _BUILDER is not None:
    return _BUILDER

  class Gsm8kLocal(tfds.core.GeneratorBasedBuilder):
    """GSM8K from ``<manual_dir>/{train,test}.jsonl``."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place GSM8K's train.jsonl and test.jsonl in the manual directory."
    )

    def _info(self):
      return self.dataset_info_from_configs(
          features=tfds.features.FeaturesDict(
              {"question": tfds.features.Text(), "answer": tfds.features.Text()}
          )
      )

    def _split_generators(self, dl_manager):
      return {
          s: self._generate_examples(
              os.path.join(dl_manager.manual_dir, f"{s}.jsonl")
          )
          for s in ("train", "test")  # GSM8K's own splits.
      }

    def _generate_examples(self, path):
      for i, r in enumerate(read_jsonl(path, ("question", "answer"))):
        yield i, {"question": r["question"], "answer": r["answer"]}

  _BUILDER = Gsm8kLocal
  return _BUILDER


NAMES = ("gsm8k", "math", "jsonl")


@tasks.register("gsm8k")
def _gsm8k_task(*, data_dir: str = "", tfds_data_dir: str = "", **_):
  """``data_dir`` holds train/test JSONL; with ``tfds_data_dir`` it is read
  as a tfds manual directory and prepared there."""
  if tfds_data_dir:
    return gsm8k_tfds(data_dir, tfds_data_dir)
  return load_gsm8k(data_dir)


@tasks.register("math")
def _math_task(*, data_dir: str = "", **_):
  return load_math(data_dir)


@tasks.register("jsonl")
def _jsonl_task(
    *,
    data_dir: str = "",
    question_field: str = "question",
    answer_field: str = "answer",
    solution_field: str = "",
    **_,
):
  return load_jsonl(
      data_dir,
      question=question_field,
      answer=answer_field,
      solution=solution_field,
  )
