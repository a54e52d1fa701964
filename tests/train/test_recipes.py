"""The R1 recipes: the base-model corpus, s1 curation, the consistency
reward, distillation from a teacher's verified traces only, budget-forcing
evaluation and the per-run report."""

import collections
import json
import os
import random

from conftest import load_config
import numpy as np
import pytest

from reasoning_jax import config as config_lib
from reasoning_jax import pipeline
from reasoning_jax.data import curate
from reasoning_jax.data import tasks
from reasoning_jax.rewards import consistency_reward
from reasoning_jax.train import context
from reasoning_jax.train import distill
from reasoning_jax.train import metrics
from reasoning_jax.train import pretrain

ARITH = tasks.get_task("arith", seed=0, difficulty=2)


def test_with_reflection_inserts_one_wrong_step_then_a_reflection():
  ex = ARITH.example("train", 3)
  lines = ex.solution.split("\n")  # <think>, 3 steps, </think>, boxed.
  for seed in range(20):
    out = pretrain.with_reflection(ex.solution, random.Random(seed))
    out = out.split("\n")
    k = out.index(pretrain.WAIT)
    wrong, right = out[k - 1], out[k + 1]
    assert out[: k - 1] + out[k + 1 :] == lines  # only two lines inserted.
    assert 1 <= k - 1 and k + 1 <= len(out) - 3  # inside the think block.
    assert len(wrong) == len(right)
    assert sum(a != b for a, b in zip(wrong, right)) == 1
    assert all(a.isdigit() for a, b in zip(wrong, right) if a != b)


def test_corpus_has_the_three_kinds_in_their_shares():
  n = 3000
  docs = pretrain.corpus(ARITH, n, think=0.5, reflect=0.2, seed=0)
  kinds = collections.Counter(
      "reflect"
      if f"\n{pretrain.WAIT}\n" in d.solution
      else "think"
      if d.solution.startswith("<think>")
      else "answer"
      for d in docs
  )
  for kind, p in (("answer", 0.5), ("think", 0.4), ("reflect", 0.1)):
    assert abs(kinds[kind] - n * p) < 3.5 * np.sqrt(n * p * (1 - p)), kinds
  for d in docs:
    assert ARITH.is_correct(d.solution, d)  # every document's answer is right.
    if "<think>" not in d.solution:
      assert d.solution == "\\boxed{" + d.answer + "}"
  assert docs[5].prompt == ARITH.example("train", pretrain.OFFSET + 5).prompt


@pytest.mark.parametrize(
    "task,corpus",
    [
        ("arith", ["arith", "countdown"]),
        ("chain", ["arith", "chain", "countdown"]),
    ],
)  # what build_context uses.
def test_the_reflection_line_survives_the_builtin_tokenizer(
    tmp_path, task, corpus
):
  from reasoning_jax.data import tokenizer  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import evaluation  # pylint: disable=g-import-not-at-top

  tok = tokenizer.get_tokenizer("", str(tmp_path), corpus)
  example = tasks.get_task(task, seed=0, difficulty=2).example("train", 0)
  doc = pretrain.with_reflection(example.solution, random.Random(0))
  assert tok.decode(tok.encode(doc)) == doc  # no unknown pieces.
  assert evaluation.reflection_rate([doc]) == 1.0


def _ex(prompt, answer, lines):
  sol = (
      ("<think>\n" + "\n".join(lines) + "\n</think>\n\\boxed{" + answer + "}")
      if lines
      else answer
  )
  return tasks.Example(prompt, answer, sol)


def test_curate_by_quality_then_difficulty_round_robin_over_templates():
  e1 = _ex("Compute 1+2*3.", "7", ["1+6", "7"])
  e2 = _ex("Compute 1+2.", "3", ["3"])
  e3 = _ex("Compute 11+12*13.", "167", ["11+156", "167"])
  e4 = _ex("Compute 5*5.", "25", ["25"])
  wrong = tasks.Example("Compute 2+2.", "4", "<think>\n5\n</think>\n\\boxed{5}")
  malformed = _ex("Compute 3+3.", "6", [])
  pool = [e1, wrong, e2, e3, malformed, e4]
  # Hardest first: e3 (2 lines, longer), e1; then e4, e2 (1 line). By
  # template: "#+#*#": [e3, e1], "#*#": [e4], "#+#": [e2].
  assert curate.curate(pool, 3, ARITH) == [e3, e4, e2]
  assert curate.curate(pool, 10, ARITH) == [e3, e4, e2, e1]
  assert curate.template("Compute 11+12*13.") == "Compute #+#*#."


def test_consistency_reward_is_the_share_of_step_lines():
  countdown = tasks.get_task("countdown", seed=0, difficulty=1)
  ok = ARITH.step_is_wellformed
  assert consistency_reward(
      "<think>\n1+6\nhmm\n\n7\n</think>\\boxed{7}", ok
  ) == pytest.approx(2 / 3)
  assert consistency_reward("\\boxed{7}", ok) == 0.0
  assert consistency_reward("<think>\n</think>", ok) == 0.0
  # Syntax, not truth: 21+1=23 is a well-formed (wrong) countdown step.
  assert (
      consistency_reward(
          "<think>\n7*3=21\n21+1=23\n</think>", countdown.step_is_wellformed
      )
      == 1.0
  )
  assert (
      consistency_reward("<think>\n7*3\n</think>", countdown.step_is_wellformed)
      == 0.0
  )


def test_a_teacher_without_config_json_is_named(tmp_path):
  with pytest.raises(config_lib.ConfigError, match="teacher_workdir"):
    distill.teacher_config(str(tmp_path), mesh={}, rules=())


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
  """A teacher run good enough to solve some problems."""
  wd = str(tmp_path_factory.mktemp("teacher"))
  c = load_config("default", "arith,smoke")  # the student's task.
  c.stages = "sft"
  c.sft.update(num_examples=1000, steps=150, learning_rate=1e-2)
  summary = pipeline.train_and_evaluate(c, wd)
  return wd, summary


def test_distilled_student_trains_only_on_the_teachers_accepted_traces(
    teacher, tmp_path
):
  teacher_wd, teacher_summary = teacher
  c = load_config("distill", "smoke")
  c.distill.update(teacher_workdir=teacher_wd, problems=24, samples=4)
  c.model.update(d_model=16, head_dim=8, d_ff=32)  # a smaller student.
  wd = str(tmp_path)
  summary = pipeline.train_and_evaluate(c, wd)
  assert list(summary)[:1] == ["distill"]
  with open(os.path.join(wd, "distill.jsonl"), encoding="utf-8") as f:
    data = [tasks.Example(**json.loads(line)) for line in f]
  # The teacher's samples again (sampling is a pure function of the key),
  # judged here by the task's verifier directly.
  ctx = context.build_context(c, wd)
  problems, traces = distill.teacher_traces(ctx)
  assert len(traces) == 24 * 4
  sampled = {(t.prompt, t.completion) for t in traces}
  accepted = {
      (t.prompt, " ".join(t.completion.split()))
      for t in traces
      if ctx.task.is_correct(
          t.completion, tasks.Example(t.prompt, t.answer, "")
      )
  }
  assert 0 < len(accepted) < len(traces), teacher_summary
  assert len(data) == len(accepted) == summary["distill"]["distill_examples"]
  assert {(e.prompt, " ".join(e.solution.split())) for e in data} == accepted
  gold = {p.prompt: p.answer for p in problems}
  for e in data:
    assert (e.prompt, e.solution) in sampled  # a teacher sample, verbatim.
    assert e.answer == gold[e.prompt]
    assert ctx.task.is_correct(e.solution, e)


def test_r1_zero_smoke_tracks_reflection_and_writes_the_report(tmp_path):
  c = load_config("r1_zero", "smoke")
  wd = str(tmp_path)
  summary = pipeline.train_and_evaluate(c, wd)
  assert [k for k in summary if k != "wall_seconds"] == ["pretrain", "rl_grpo"]
  rows = metrics.read_metrics(wd, "rl_grpo")
  steps = [r for r in rows if "reflection_rate" in r]
  assert len(steps) == c.rl.steps
  assert all(0 <= r["reflection_rate"] <= 1 for r in steps)
  with open(os.path.join(wd, "config.json"), encoding="utf-8") as f:
    assert json.load(f)["stages"] == "pretrain,rl"
  report = open(os.path.join(wd, "report.md"), encoding="utf-8").read()
  for name in ("pretrain", "rl_grpo"):
    r = summary[name]
    lo, hi = r["pass@1_ci95"]
    assert (
        f"| {name} | {r['pass@1']:.3f} [{lo:.3f}, {hi:.3f}] | "
        f"{r['format']:.3f} | {r['think']:.3f} | {r['length']:.1f} | "
        f"{r['reflection']:.3f} |"
    ) in report
  with open(os.path.join(wd, "report.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_s1_budget_stage_evaluates_the_sft_policy_under_budgets(tmp_path):
  c = load_config("s1", "smoke")
  summary = pipeline.train_and_evaluate(c, str(tmp_path))
  rows = {r["budget"]: r for r in summary["budget"]["budget_forcing"]}
  assert set(rows) == {"none", "min 20", "max 4"}
  # The unforced row is the same greedy evaluation of the same parameters.
  assert (
      rows["none"]["pass@1"]
      == summary["budget"]["pass@1"]
      == summary["sft"]["pass@1"]
  )
  assert rows["max 4"]["think_tokens"] <= 5  # </think> forced at token 5.
  assert summary["budget"]["paired_vs_previous"]["delta"] == 0.0
