"""The cold-start teacher: bare answers only on short problems, at the
configured share, as a pure function of the seed."""

import numpy as np
import pytest

from reasoning_jax.data import chain
from reasoning_jax.data import cold_start
from reasoning_jax.train import sft


def _examples(n=4000):
  task = chain.Chain(seed=0, difficulty=3)
  return task, [task.example("train", i) for i in range(n)]


def test_bare_answers_replace_a_share_of_the_short_solutions_only():
  task, exs = _examples()
  out = cold_start.teacher_solutions(exs, share=0.7, max_steps=3, seed=0)
  assert [e.prompt for e in out] == [e.prompt for e in exs]
  short = np.asarray([task.difficulty_of(e) <= 3 for e in exs])
  bare = np.asarray([e.solution == "\\boxed{" + e.answer + "}" for e in out])
  assert not bare[~short].any()  # long problems keep their steps.
  rate = bare[short].mean()
  se = np.sqrt(0.7 * 0.3 / short.sum())
  assert abs(rate - 0.7) < 4 * se, rate
  kept = [o.solution == e.solution for o, e in zip(out, exs)]
  assert all(k != b for k, b in zip(kept, bare))  # one or the other.
  assert all(task.is_correct(e.solution, e) for e in out)  # still right.


def test_teacher_is_a_pure_function_of_the_seed():
  _, exs = _examples(500)
  a = cold_start.teacher_solutions(exs, share=0.5, max_steps=2, seed=3)
  b = cold_start.teacher_solutions(exs, share=0.5, max_steps=2, seed=3)
  c = cold_start.teacher_solutions(exs, share=0.5, max_steps=2, seed=4)
  assert a == b and a != c


@pytest.mark.parametrize("share,max_steps", [(0.0, 3), (1.0, 0)])
def test_no_bare_answers_at_zero_share_or_zero_steps(share, max_steps):
  _, exs = _examples(300)
  assert (
      cold_start.teacher_solutions(
          exs, share=share, max_steps=max_steps, seed=0
      )
      == exs
  )


def test_num_steps_counts_thinking_lines():
  assert (
      cold_start.num_steps("<think>\n1+2=3\n3*2=6\n</think>\n\\boxed{6}") == 2
  )
  assert cold_start.num_steps("\\boxed{6}") == 0


def test_cold_start_examples_apply_the_teacher_to_the_configured_set():
  from conftest import default_config  # pylint: disable=g-import-not-at-top

  c = default_config()
  task = chain.Chain(seed=0, difficulty=3)
  c.sft.num_examples = 200
  got = sft.cold_start_examples(task, c.sft, seed=0)
  want = cold_start.teacher_solutions(
      [task.example("train", i) for i in range(200)],
      share=c.sft.bare_share,
      max_steps=c.sft.bare_max_steps,
      seed=0,
  )
  assert got == want and any(e.solution.startswith("\\boxed") for e in got)
