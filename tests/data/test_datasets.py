"""GSM8K / MATH / generic JSONL from local files, and the tfds manual path."""

import json

import pytest

from reasoning_jax.data import datasets
from reasoning_jax.data import tasks

GSM8K = {
    "train": [
        {
            "question": "Tom has 3 apples and buys 4 more. How many?",
            "answer": "He has 3+4=<<3+4=7>>7 apples.\n#### 7",
        },
        {
            "question": "A shirt costs $1,200 after a $300 discount. Price?",
            "answer": "1200+300=<<1200+300=1500>>1500\n#### 1,500",
        },
    ],
    "test": [{"question": "What is 6 times 7?", "answer": "6*7=42\n#### 42"}],
}
MATH = {
    "train": [{
        "problem": "Compute $\\frac{1}{2}+\\frac{1}{4}$.",
        "solution": "We get $\\frac{2}{4}+\\frac14 = \\boxed{\\frac{3}{4}}$.",
    }],
    "test": [{"problem": "Solve $x+1=3$.", "solution": "So $x = \\boxed{2}$."}],
}


def _write(tmp_path, records):
  for split, recs in records.items():
    (tmp_path / f"{split}.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in recs)
    )
  return str(tmp_path)


def test_gsm8k_jsonl(tmp_path):
  task = tasks.get_task("gsm8k", data_dir=_write(tmp_path, GSM8K))
  ex = task.example("train", 1)
  assert ex.answer == "1500"
  assert ex.solution == "<think>\n1200+300=1500\n</think>\n\\boxed{1500}"
  with pytest.raises(
      datasets.DataError,  # no wrap-around (issue 18.2).
      match="train record 2 requested but the train file has 2",
  ):
    task.example("train", 2)
  test = task.example("test", 0)
  assert task.is_correct("... so \\boxed{42}", test)
  assert task.is_correct("6*7=42\n#### 42", test)
  assert task.is_correct("The answer is 42.", test)
  assert not task.is_correct("\\boxed{41}", test)
  # The reference solution is correct under the task's own check.
  assert all(
      task.is_correct(e.solution, e)
      for e in (task.example("train", i) for i in range(2))
  )


def test_math_jsonl(tmp_path):
  task = tasks.get_task("math", data_dir=_write(tmp_path, MATH))
  ex = task.example("train", 0)
  assert ex.answer == "\\frac{3}{4}"
  assert task.is_correct("\\boxed{0.75}", ex)  # exact rationals.
  assert task.is_correct(ex.solution, ex)
  assert not task.is_correct("\\boxed{3/5}", ex)


def test_generic_jsonl_with_named_fields(tmp_path):
  recs = {
      s: [{"q": "2+2?", "a": "4", "why": "two and two"}] for s in tasks.SPLITS
  }
  task = tasks.get_task(
      "jsonl",
      data_dir=_write(tmp_path, recs),
      question_field="q",
      answer_field="a",
      solution_field="why",
  )
  ex = task.example("test", 0)
  assert (ex.prompt, ex.answer) == ("2+2?", "4")
  assert ex.solution == "<think>\ntwo and two\n</think>\n\\boxed{4}"


@pytest.mark.parametrize(
    "line,msg",
    [
        ("{not json", r"train.jsonl:2: not JSON"),
        ('["a list"]', r"train.jsonl:2: expected a JSON object"),
        ('{"question": "q"}', r"train.jsonl:2: field 'answer' missing"),
        (
            '{"question": "q", "answer": "no final line"}',
            r"train.jsonl:2: answer has no '#### N' line",
        ),
    ],
)
def test_malformed_lines_are_named_with_file_and_line(tmp_path, line, msg):
  _write(tmp_path, GSM8K)
  path = tmp_path / "train.jsonl"
  good = path.read_text().split("\n")[0]
  path.write_text(good + "\n" + line + "\n")
  with pytest.raises(datasets.DataError, match=msg):
    datasets.load_gsm8k(str(tmp_path))


def test_a_non_utf8_byte_is_named_with_file_line_and_column(tmp_path):
  _write(tmp_path, GSM8K)
  path = tmp_path / "train.jsonl"
  path.write_bytes(path.read_bytes() + b'{"question": "caf\xe9"}\n')
  with pytest.raises(
      datasets.DataError,
      match=r"train.jsonl:3: not UTF-8 \(byte 0xe9 at column " r"18\)",
  ):
    datasets.load_gsm8k(str(tmp_path))


def test_missing_directory_is_a_clear_error(tmp_path):
  with pytest.raises(datasets.DataError, match="test.jsonl: no such file"):
    (tmp_path / "train.jsonl").write_text(json.dumps(GSM8K["train"][0]))
    datasets.load_gsm8k(str(tmp_path))


def test_gsm8k_through_tfds_manual_dir(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  _write(manual, GSM8K)
  task = tasks.get_task(
      "gsm8k", data_dir=str(manual), tfds_data_dir=str(tmp_path / "tfds")
  )
  want = datasets.load_gsm8k(str(manual))
  for split in tasks.SPLITS:
    assert task.size(split) == want.size(split)
    assert sorted(
        task.example(split, i).prompt for i in range(task.size(split))
    ) == sorted(want.example(split, i).prompt for i in range(want.size(split)))
  assert list((tmp_path / "tfds").rglob("*.array_record*"))


def test_save_and_load_examples_round_trip_and_write_atomically(
    tmp_path, monkeypatch
):
  exs = [
      tasks.Example(
          'Say "hi"\nthen ☕?',
          "\\frac{1}{2}",
          "<think>\na\\nb\n</think>\n\\boxed{x}",
      ),
      tasks.Example("", "0", ""),
  ]
  path = str(tmp_path / "sub" / "ex.jsonl")
  tasks.save_examples(path, exs)
  assert tasks.load_examples(path) == exs
  with open(path, encoding="utf-8") as f:  # one JSON object per line.
    assert [json.loads(ln)["answer"] for ln in f] == ["\\frac{1}{2}", "0"]
  # A write that dies half-way leaves the previous file whole.
  calls = []

  def dying_dumps(obj):
    calls.append(obj)
    if len(calls) == 2:
      raise OSError("disk full")
    return json.JSONEncoder().encode(obj)

  monkeypatch.setattr(tasks.json, "dumps", dying_dumps)
  with pytest.raises(OSError):
    tasks.save_examples(path, [exs[1], exs[0]])
  monkeypatch.undo()
  assert tasks.load_examples(path) == exs
