"""Sequential revision: pairs from own samples, prompts, chains."""

from reasoning_jax.data import tasks
from reasoning_jax.search import revision
from reasoning_jax.verifiers.steps import Trace


def _t(prompt, completion, correct):
  return Trace(prompt, "5", completion, int(correct), [], [])


def test_pairs_take_wrong_attempts_to_correct_ones_of_the_same_problem():
  traces = [
      _t("A", "w1", 0),
      _t("A", "r1", 1),
      _t("A", "w2", 0),
      _t("B", "w3", 0),
      _t("B", "w4", 0),  # no correct: no pair.
      _t("C", "r2", 1),
  ]  # no wrong: no pair.
  pairs = revision.revision_pairs(traces, per_problem=5, seed=0)
  assert pairs == [
      tasks.Example("A\nw1", "5", "r1"),
      tasks.Example("A\nw2", "5", "r1"),
  ]
  assert len(revision.revision_pairs(traces, per_problem=1, seed=0)) == 1


class _CharTok:

  def encode(self, text):
    return list(text)


def test_fit_prompt_shortens_long_attempts_to_their_answer():
  prev = "<think>\nlong line\n</think>\n\\boxed{7}"
  full = revision.fit_prompt(_CharTok(), "P", prev, 100)
  assert full == "P\n" + prev
  # "P\n" + "\\boxed{7}" + "\n" + bos = 13 tokens.
  assert revision.fit_prompt(_CharTok(), "P", prev, 13) == "P\n\\boxed{7}"
  assert revision.fit_prompt(_CharTok(), "P", prev, 12) == "P"


def test_chain_feeds_each_attempt_into_the_next_prompt():
  seen = []

  def revise(prompts):
    seen.append(prompts)
    return [p.split("\n")[-2] + "+" for p in prompts]

  ex = [tasks.Example("Q1", "", ""), tasks.Example("Q2", "", "")]
  chains = revision.chain(
      revise,
      ex,
      ["a", "b"],
      3,
      lambda p, prev: revision.revision_prompt(p, prev),
  )
  assert chains == [["a", "a+", "a++"], ["b", "b+", "b++"]]
  assert seen[0] == ["Q1\na\n", "Q2\nb\n"] and len(seen) == 2
