"""Sequential revision (Snell et al. 2024): the policy revises its last attempt.

A revision prompt is the problem followed by the previous attempt; a
revision policy is the policy fine-tuned (SFT) on pairs drawn from its own
samples: a wrong attempt in the prompt, a correct attempt of the same
problem as the target. At test time a chain of N attempts costs N
generations, one batched sampler call per link over all problems; its
answer is the last attempt's (``last``) or the majority over the chain.
"""

import random

from reasoning_jax.data import encoding
from reasoning_jax.data import tasks


def revision_prompt(prompt: str, previous: str) -> str:
  """The problem, a newline, then the previous attempt verbatim."""
  return prompt + "\n" + previous


def fit_prompt(tok, prompt: str, previous: str, max_tokens: int) -> str:
  """``revision_prompt``, or with the previous attempt cut to its last line
  (the boxed answer) when the whole attempt would not fit ``max_tokens``
  (bos included); the bare problem if even that does not fit."""
  for prev in (previous, previous.rsplit("\n", 1)[-1]):
    text = encoding.prompt_text(
        tasks.Example(revision_prompt(prompt, prev), "", "")
    )
    if 1 + len(tok.encode(text)) <= max_tokens:
      return revision_prompt(prompt, prev)
  return prompt


def revision_pairs(
    traces, *, per_problem: int, seed: int, fit=revision_prompt
) -> list[tasks.Example]:
  """SFT examples (wrong attempt -> correct attempt of the same problem).

  ``traces``: sampled attempts (``verifiers.steps.Trace``), grouped by
  ``prompt``. Per problem with both wrong and correct attempts, up to
  ``per_problem`` pairs, each wrong attempt used once, the target drawn
  from the correct ones; ``fit(prompt, wrong)`` builds the prompt.
  """
  groups = {}
  for t in traces:
    groups.setdefault(t.prompt, []).append(t)
  rng = random.Random(seed)
  out = []
  for prompt, ts in groups.items():
    wrong = [t for t in ts if not t.correct]
    right = [t for t in ts if t.correct]
    if not wrong or not right:
      continue
    for w in wrong[:per_problem]:
      out.append(
          tasks.Example(
              fit(prompt, w.completion), w.answer, rng.choice(right).completion
          )
      )
  return out


def chain(revise, examples, first: list[str], n: int, fit) -> list[list[str]]:
  """Chains of ``n`` attempts per problem: ``first[q]``, then ``n - 1``
  revisions, each one batched call ``revise(prompts) -> texts`` over all
  problems; ``fit(prompt, previous) -> revision prompt``."""
  assert len(first) == len(examples), (len(first), len(examples))
  chains = [[f] for f in first]
  for _ in range(n - 1):
    texts = revise([
        encoding.prompt_text(tasks.Example(fit(ex.prompt, c[-1]), "", ""))
        for ex, c in zip(examples, chains)
    ])
    for c, t in zip(chains, texts):
      c.append(t)
  return chains
