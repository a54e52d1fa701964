"""The test-time search experiments of ``reasoning_jax.tts``: beam search,
Tree of Thoughts and MCTS over all test problems (``SEARCHES``, batched
expansions and scoring), sequential revision, and MCTS Q-value step labels.
"""

import dataclasses
import os
import time

from absl import logging
import jax
import numpy as np

from reasoning_jax.data import encoding
from reasoning_jax.rewards import answers as answers_lib
from reasoning_jax.rewards.answers import think_steps
from reasoning_jax.search import beam as beam_lib
from reasoning_jax.search import best_of_n
from reasoning_jax.search import mcts
from reasoning_jax.search import revision as revision_lib
from reasoning_jax.train import sft
from reasoning_jax.verifiers import label as label_lib
from reasoning_jax.verifiers import steps as steps_lib


def powers(n: int) -> list[int]:
  """1, 2, 4, ... up to n."""
  return [2**i for i in range(n.bit_length()) if 2**i <= n]


def _beam(expand, score, q, k, c, done):
  """PRM beam search (cumulative score): (best texts, N, children)."""
  best, children = beam_lib.beam_search(
      expand,
      score,
      q,
      width=c.beam_width,
      expand_k=k,
      max_steps=c.beam_max_steps,
      is_done=done,
  )
  return [b.text for b in best], c.beam_width, children


def _tot(expand, score, q, k, c, done):
  """Tree of Thoughts (breadth-first, any verifier as the evaluator)."""
  best, children = beam_lib.tree_of_thoughts(
      expand,
      score,
      q,
      breadth=c.tot_breadth,
      k=k,
      max_steps=c.beam_max_steps,
      is_done=done,
  )
  return [b.text for b in best], c.tot_breadth, children


def _mcts(expand, score, q, k, c, done):
  """MCTS (PUCT); the text at the end of each tree's best path."""
  trees, children = mcts.search(
      expand,
      score,
      q,
      num_simulations=c.mcts_simulations,
      k=k,
      c_puct=c.c_puct,
      is_done=done,
  )
  texts = [tr.nodes[mcts.best_path(tr)[-1]].text for tr in trees]
  return texts, c.mcts_simulations, children


# kind -> (runner, tts field of its children per expansion, of its verifier).
SEARCHES = {
    "beam": (_beam, "beam_k", "beam_verifier"),
    "tot": (_tot, "tot_k", "tot_verifier"),
    "mcts": (_mcts, "mcts_k", "mcts_verifier"),
}


def is_done(ctx):
  """A search state has ended: the completion finished, or it has no room
  for another step in the sampler's window."""
  cap = ctx.config.data.max_new_tokens - 8
  return lambda t: beam_lib.is_done(t) or len(ctx.tok.encode(t)) >= cap


def search(kind, ctx, params, examples, verifiers, gen: float):
  """Beam search (PRM, cumulative), Tree of Thoughts or MCTS over all test
  problems, batched, with ``config.tts``'s settings; per-problem
  correctness, compute and speed (``gen``: FLOPs of one generation)."""
  t = time.perf_counter()
  config, c = ctx.config, ctx.config.tts
  run_search, k_field, verifier_field = SEARCHES[kind]
  k, verifier = c[k_field], c[verifier_field]
  policy_expand = beam_lib.policy_expander(
      ctx,
      params,
      examples,
      jax.random.PRNGKey(config.seed + 13),
      temperature=c.temperature,
      batch_size=c.batch_size,
      k=k,
      with_logprob=kind == "mcts",
  )
  generated = [0]

  def expand(items, kk):  # counts sampled rows, duplicates included.
    generated[0] += len(items) * kk
    return policy_expand(items, kk)

  score = beam_lib.state_scorer(
      ctx, verifiers[verifier], examples, max_steps=config.verifier.max_steps
  )
  done = is_done(ctx)
  q = len(examples)
  texts, n, children = run_search(expand, score, q, k, c, done)
  open_rows = [i for i, x in enumerate(texts) if not done(x)]
  if open_rows:  # finish an unfinished best path with one sample.
    finish = label_lib.policy_completer(
        ctx,
        params,
        jax.random.PRNGKey(config.seed + 17),
        temperature=c.temperature,
        batch_size=c.batch_size,
        group_size=1,
    )
    rest = finish(
        [encoding.prompt_text(examples[i]) + texts[i] for i in open_rows]
    )
    for i, r in zip(open_rows, rest):
      texts[i] += r
  ok = np.asarray(
      [ctx.task.is_correct(x, e) for x, e in zip(texts, examples)], float
  )
  secs = time.perf_counter() - t
  logging.info(
      "%s (%s): acc %.3f, %d children in %.0f s",
      kind,
      verifier,
      ok.mean(),
      children,
      secs,
  )
  return {
      "n": n,
      "k": k,
      "verifier": verifier,
      "correct": ok,
      "children_per_problem": children / q,
      "flops_per_problem": (generated[0] + children + len(open_rows)) * gen / q,
      "expansions_per_s": children / secs,
      "seconds": secs,
  }


def sequential_revision(ctx, params, examples, traces, workdir) -> dict:
  """Trains (or restores) the revision policy and runs revision chains.

  Pairs come from ``revision_samples`` samples of ``revision_problems``
  train problems past the cold-start set; the chain's first attempt is each
  problem's first parallel sample, so sequential@1 = parallel@1.
  """
  t = time.perf_counter()
  config, c = ctx.config, ctx.config.tts
  fit = lambda p, prev: revision_lib.fit_prompt(
      ctx.tok,
      p,
      prev,
      config.data.max_prompt_len + config.data.max_new_tokens // 2,
  )
  rparams, n_pairs = _revision_policy(ctx, params, workdir, fit)
  revise = label_lib.policy_completer(
      ctx,
      rparams,
      jax.random.PRNGKey(config.seed + 23),
      temperature=c.temperature,
      batch_size=c.batch_size,
      group_size=1,
  )
  firsts = [tr.completion for tr in traces[:: c.n_max]]
  chains = revision_lib.chain(revise, examples, firsts, c.revision_n, fit)
  ok = np.asarray(
      [
          [ctx.task.is_correct(x, e) for x in ch]
          for ch, e in zip(chains, examples)
      ],
      float,
  )
  answers = np.asarray(
      [[answers_lib.extract_answer(x) for x in ch] for ch in chains], object
  )
  out = {
      "last": {n: ok[:, n - 1] for n in powers(c.revision_n)},
      "majority": {
          n: best_of_n.vote(answers, ok, n) for n in powers(c.revision_n)
      },
  }
  # How often a revision fixes / breaks the attempt before it.
  ok = ok.astype(bool)
  fixed = float((~ok[:, :-1] & ok[:, 1:]).sum() / max(1, (~ok[:, :-1]).sum()))
  broke = float((ok[:, :-1] & ~ok[:, 1:]).sum() / max(1, ok[:, :-1].sum()))
  out.update(
      pairs=n_pairs,
      wrong_to_right=fixed,
      right_to_wrong=broke,
      seconds=time.perf_counter() - t,
  )
  logging.info(
      "revision: wrong->right %.3f, right->wrong %.3f, %.0f s",
      fixed,
      broke,
      out["seconds"],
  )
  return out


def _revision_policy(ctx, params, workdir, fit):
  """``(params, pairs)``: the policy fine-tuned (stage ``revision``) on
  (wrong -> correct) pairs of its own samples; itself when there are none."""
  config, c = ctx.config, ctx.config.tts
  width = config.data.max_prompt_len + config.data.max_new_tokens
  first = config.sft.num_examples
  train = [
      ctx.task.example("train", first + i) for i in range(c.revision_problems)
  ]
  own = label_lib.sample_traces(
      ctx,
      params,
      train,
      c.revision_samples,
      jax.random.PRNGKey(config.seed + 19),
      temperature=c.temperature,
      batch_size=c.batch_size,
  )
  pairs = revision_lib.revision_pairs(
      own, per_problem=c.revision_per_problem, seed=config.seed, fit=fit
  )
  logging.info(
      "revision: %d pairs from %d train problems", len(pairs), len(train)
  )
  if not pairs:
    logging.warning(
        "revision: no (wrong, correct) pair among the samples; "
        "the chains use the policy itself"
    )
    return params, 0
  params, _ = sft.fine_tune(
      dataclasses.replace(ctx, workdir=workdir),  # its own checkpoints.
      params,
      pairs,
      stage="revision",
      steps=c.revision_steps,
      learning_rate=c.revision_lr,
      max_len=width + config.data.max_new_tokens,  # + the revision.
      eval_every=0,
  )
  return params, len(pairs)


def mcts_labels(ctx, params) -> dict:
  """MCTS with rollout values on train problems (answers known): Q-values
  of the steps on each finished path as step labels (rStar-Math), written
  to ``mcts_labels.jsonl``; their agreement with the exact labels."""
  t = time.perf_counter()
  config, c = ctx.config, ctx.config.tts
  first = config.sft.num_examples + c.revision_problems
  exs = [
      ctx.task.example("train", first + i) for i in range(c.mcts_label_problems)
  ]
  expand = beam_lib.policy_expander(
      ctx,
      params,
      exs,
      jax.random.PRNGKey(config.seed + 29),
      temperature=c.temperature,
      batch_size=c.batch_size,
      k=c.mcts_k,
      with_logprob=True,
  )
  r = c.mcts_rollouts
  roll = label_lib.policy_completer(
      ctx,
      params,
      jax.random.PRNGKey(config.seed + 31),
      temperature=c.temperature,
      batch_size=c.batch_size,
      group_size=r,
  )
  done = is_done(ctx)

  def value(items):  # share of r rule-scored rollouts that are correct.
    live = [(q, x) for q, x in items if not done(x)]
    conts = iter(
        roll([
            encoding.prompt_text(exs[q]) + x for q, x in live for _ in range(r)
        ])
    )
    out = []
    for q, x in items:
      texts = [x] if done(x) else [x + next(conts) for _ in range(r)]
      out.append(np.mean([ctx.task.is_correct(y, exs[q]) for y in texts]))
    return out

  trees, _ = mcts.search(
      expand,
      value,
      len(exs),
      num_simulations=c.mcts_simulations,
      k=c.mcts_k,
      c_puct=c.c_puct,
      is_done=done,
  )
  traces, agree = _mcts_step_labels(ctx, exs, trees)
  path = os.path.join(ctx.logdir, "mcts_labels.jsonl")
  if jax.process_index() == 0:
    os.makedirs(ctx.logdir, exist_ok=True)
    steps_lib.write_jsonl(path, traces)
  out = {
      "problems": len(exs),
      "traces": len(traces),
      "steps": len(agree),
      "agreement_with_exact": float(np.mean(agree)) if agree else float("nan"),
      "path": path,
      "seconds": time.perf_counter() - t,
  }
  logging.info("mcts labels: %s", out)
  return out


def _mcts_step_labels(ctx, exs, trees):
  """``(traces, agree)``: a ``Trace`` per finished path with Q > 0.5 as its
  hard step labels, and per step whether that label equals the exact one."""
  traces, agree = [], []
  for ex, tree in zip(exs, trees):
    for text, qs in mcts.step_labels(tree):
      steps = think_steps(text)
      pre = label_lib.step_prefixes(text)
      if not pre or len(pre) != len(steps) or not all(p in qs for p in pre):
        continue
      soft = [float(qs[p]) for p in pre]
      exact = steps_lib.exact_labels(ctx.task, ex, steps)
      traces.append(
          steps_lib.Trace(
              prompt=ex.prompt,
              answer=ex.answer,
              completion=text,
              correct=int(ctx.task.is_correct(text, ex)),
              steps=steps,
              exact=exact,
              soft=soft,
              hard=[int(s > 0.5) for s in soft],
          )
      )
      if exact is not None:  # tasks without a step checker: no reference.
        agree += [int(s > 0.5) == e for s, e in zip(soft, exact)]
  return traces, agree
