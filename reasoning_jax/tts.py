r"""Test-time scaling evaluation: accuracy vs N and vs FLOPs, per method.

  python -m reasoning_jax.tts --config=configs/tts.py --workdir=runs/tts

Loads the policy from ``tts.policy_workdir`` (stage ``tts.policy_stage``,
e.g. the default job's ``rl_grpo``) and the verifiers saved by
``reasoning_jax.verify`` in ``tts.verifier_workdir`` (a missing one is
skipped with a warning). On ``tts.num_problems`` test problems:

- greedy pass@1, and greedy decoding under s1 budget forcing
  (``tts.budget_min`` / ``budget_max``): pass@1 and thinking length;
- ``tts.n_max`` samples per problem in one batched pass; for N = 1, 2, 4,
  ..., n_max: self-consistency (majority vote), verifier-weighted voting
  (``WEIGHTED``), best-of-N under every verifier (``registry.scorer_names``:
  the ORM; the PRMs, generative and likelihood verifiers under each step
  aggregate), unbiased pass@N and the oracle 1 − (1 − p̂₁)^N;
- searches, batched over problems: PRM step beam search, Tree of Thoughts
  with any verifier as evaluator, MCTS (PUCT) with verifier values;
- sequential revision chains by a revision policy it fine-tunes on its own
  (wrong -> correct) pairs, against parallel voting at the same N;
- every method's accuracy with a bootstrap 95% interval and FLOPs per
  problem; accuracy per difficulty bin (saturation on easy vs hard
  problems); compute-optimal choice of method and N per estimated
  difficulty under each FLOPs budget; optionally MCTS Q-value step labels
  on train problems.

Writes ``tts.json``, ``tts.md``, ``tts_vs_n.png``, ``tts_vs_flops.png`` and
``tts_by_difficulty.png``.
"""

import json
import os
import time

from absl import flags
from absl import logging
import jax
import numpy as np

from reasoning_jax import cli
from reasoning_jax.experiments import stats
from reasoning_jax.experiments import tts_report
from reasoning_jax.experiments import tts_search
from reasoning_jax.models import CausalLM
from reasoning_jax.models import flops as flops_lib
from reasoning_jax.models import ModelConfig
from reasoning_jax.rewards import aggregate
from reasoning_jax.rewards import answers as answers_lib
from reasoning_jax.search import best_of_n
from reasoning_jax.search import compute_optimal
from reasoning_jax.train import budget as budget_lib
from reasoning_jax.train import checkpoint
from reasoning_jax.train import context
from reasoning_jax.verifiers import label as label_lib
from reasoning_jax.verifiers import likelihood
from reasoning_jax.verifiers import metrics as vm
from reasoning_jax.verifiers import registry
from reasoning_jax.verifiers import reward_model as rm_lib
from reasoning_jax.verifiers import steps as steps_lib

FLAGS = flags.FLAGS


def run(config, workdir: str) -> dict:
  """Every test-time scaling method on ``tts.num_problems`` test problems;
  writes ``tts.json``, ``tts.md`` and the plots; returns the json's dict."""
  t0 = time.perf_counter()
  c = config.tts
  ctx = context.build_context(config, workdir)
  params = jax.tree.map(
      jax.numpy.asarray,
      checkpoint.load_params(c.policy_workdir, c.policy_stage),
  )
  examples = [ctx.task.example("test", i) for i in range(c.num_problems)]
  greedy, budget, traces = _sample(ctx, params, examples, config)
  q, n = len(examples), c.n_max
  correct = np.asarray([t.correct for t in traces], float).reshape(q, n)
  answers = np.asarray(
      [answers_lib.extract_answer(t.completion) for t in traces], object
  ).reshape(q, n)
  sample_s = time.perf_counter() - t0

  verifiers = _verifiers(ctx, c.verifier_workdir, config.verifier.max_steps)
  logging.info(
      "sampled in %.0f s, pass@1 %.3f; scoring with %s",
      sample_s,
      correct.mean(),
      sorted(verifiers),
  )
  scores = _scores(ctx, verifiers, traces, config, (q, n))
  gen_flops = _generation_flops(ctx, config, traces)
  gen = gen_flops(0)
  per, flops = _parallel(answers, correct, scores, greedy, gen)
  searches = _searches(ctx, params, examples, verifiers, config, gen)
  for name, r in searches.items():
    per[name] = {r["n"]: r.pop("correct")}
    flops[name] = {r["n"]: r["flops_per_problem"]}
  revision = None
  if c.revision_n:
    revision = tts_search.sequential_revision(
        ctx, params, examples, traces, workdir
    )
    _add_revision(per, flops, revision, gen, gen_flops(1))
  mcts_labels = None
  if c.mcts_label_problems and c.mcts_simulations:
    mcts_labels = tts_search.mcts_labels(ctx, params)

  masks, by_difficulty, optimal = _by_difficulty(
      per, flops, correct, answers, gen, c
  )
  texts = np.asarray([t.completion for t in traces], object).reshape(q, n)
  out = {
      "task": config.task.name,
      "difficulty": config.task.difficulty,
      "problems": q,
      "n_max": n,
      "temperature": c.temperature,
      "greedy_pass@1": greedy["pass@1"],
      "budget_forcing": budget,
      "sample_pass@1": float(correct.mean()),
      "methods": stats.summarize(per),
      "flops_per_problem": flops,
      "by_difficulty": by_difficulty,
      "bin_sizes": {k: int(v.sum()) for k, v in masks.items()},
      "compute_optimal": optimal,
      "verifier_auroc": _verifier_discrimination(
          scores, correct, texts, answers
      ),
      "searches": searches,
      "revision": revision,
      "mcts_labels": mcts_labels,
      "seconds": {"sampling": sample_s, "total": time.perf_counter() - t0},
  }
  _write(ctx.logdir, out)
  return out


def _add_revision(per, flops, revision, gen: float, revise: float) -> None:
  """Moves the revision chains' ``last`` / ``majority`` correctness into
  ``per`` as ``sequential_*`` methods; a chain of N costs one generation
  and N - 1 revisions (``revise``: reading the problem and the previous
  attempt)."""
  for how in ("last", "majority"):
    per[f"sequential_{how}"] = revision.pop(how)
    flops[f"sequential_{how}"] = {
        nn: gen + (nn - 1) * revise for nn in per[f"sequential_{how}"]
    }


def _parallel(answers, correct, scores, greedy, gen: float):
  """``(per, flops)``: per method and N = 1, 2, 4, ... the [Q] 0/1
  correctness of voting, weighted voting, best-of-N, pass@N and greedy, and
  FLOPs per problem (a sample costs ``gen``; a verifier pass about as much
  again)."""
  per = best_of_n.per_problem(
      answers,
      correct,
      scores,
      tts_search.powers(correct.shape[1]),
      vote_weights=[k for k in WEIGHTED if k in scores],
  )
  per["greedy"] = {1: np.asarray(greedy["correct"], float)}
  flops = {
      k: {
          nn: nn * gen * (2 if k.startswith(("bon_", "weighted")) else 1)
          for nn in v
      }
      for k, v in per.items()
  }
  return per, flops


def _sample(ctx, params, examples, config):
  """Greedy pass@1, greedy under budget forcing, and ``tts.n_max`` samples
  per problem (problem-major ``Trace``s)."""
  c = config.tts
  greedy = ctx.evaluate(params, c.num_problems)
  budget = budget_lib.budget_forcing(
      ctx,
      params,
      examples,
      greedy,
      [c.budget_min] if c.budget_min else [],
      [c.budget_max] if c.budget_max else [],
      c.wait_text,
  )
  logging.info(
      "greedy pass@1 %.3f; budget forcing %s; sampling %d x %d",
      greedy["pass@1"],
      budget,
      len(examples),
      c.n_max,
  )
  traces = label_lib.sample_traces(
      ctx,
      params,
      examples,
      c.n_max,
      jax.random.PRNGKey(config.seed + 11),
      temperature=c.temperature,
      batch_size=c.batch_size,
  )
  return greedy, budget, traces


def _scores(ctx, verifiers, traces, config, shape) -> dict:
  """``{verifier: [Q, N] score}`` of every sample."""
  sb = steps_lib.encode_traces(
      ctx.tok,
      traces,
      prompt_len=config.data.max_prompt_len,
      completion_len=config.data.max_new_tokens,
      max_steps=config.verifier.max_steps,
  )
  scores = {}
  for k, fn in verifiers.items():
    t = time.perf_counter()
    scores[k] = fn(sb).reshape(shape)
    logging.info("%s: %.1f s", k, time.perf_counter() - t)
  return scores


def _generation_flops(ctx, config, traces):
  """FLOPs of one generation: ``fn(k)`` for a context of half the prompt
  budget plus ``k + 1`` mean completions (k = 0: a sample; 1: a revision,
  which reads the previous attempt). A verifier pass costs about as much
  as a sample; a search child is charged one generation plus one pass."""
  comp = float(np.mean([len(ctx.tok.encode(t.completion)) + 1 for t in traces]))

  def gen_flops(k: int) -> float:
    seq = config.data.max_prompt_len / 2 + (k + 1) * comp
    return seq * flops_lib.model_flops_per_token(config.model, seq / 2)

  return gen_flops


def _searches(ctx, params, examples, verifiers, config, gen: float) -> dict:
  """The step searches that are on (width > 0) and whose verifier loaded."""
  c = config.tts
  searches = {}
  for kind, width, verifier in (
      ("beam", c.beam_width, c.beam_verifier),
      ("tot", c.tot_breadth, c.tot_verifier),
      ("mcts", c.mcts_simulations, c.mcts_verifier),
  ):
    if width and verifier in verifiers:
      searches[f"{kind}_{verifier}"] = tts_search.search(
          kind, ctx, params, examples, verifiers, gen
      )
  return searches


def _write(logdir: str, out: dict) -> None:
  if jax.process_index() == 0:
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(logdir, "tts.json"), "w") as f:
      json.dump(out, f, indent=2)
    with open(os.path.join(logdir, "tts.md"), "w") as f:
      f.write(tts_report.markdown(out))
    tts_report.plot(logdir, out)


def _by_difficulty(per, flops, correct, answers, gen: float, c):
  """Saturation by difficulty (oracle bins of p̂₁ over all n samples) and
  the compute-optimal choice (bins from the first samples' agreement):
  (bin masks, per-bin summaries, the optimal curve per FLOPs budget)."""
  n = correct.shape[1]
  p1 = correct.mean(1)
  masks = {
      "hard (p1 < 0.25)": p1 < 0.25,
      "medium": (p1 >= 0.25) & (p1 < 0.75),
      "easy (p1 >= 0.75)": p1 >= 0.75,
  }
  by_difficulty = {k: stats.summarize(per, v) for k, v in masks.items()}
  bins = compute_optimal.levels(
      compute_optimal.agreement(answers, c.estimate_samples)
  )
  budgets = [gen * 2**i for i in range(int(np.log2(2 * n)) + 2)]
  reused = {
      k: lambda nn: 0
      for k in per
      if not k.startswith(("majority", "weighted_", "bon_", "sequential_"))
  }
  reused.update(
      {k: lambda nn: 1 for k in per if k.startswith("sequential_")}
  )  # its first attempt.
  optimal = compute_optimal.curve(
      per,
      flops,
      bins,
      budgets,
      estimate_samples=c.estimate_samples,
      sample_flops=gen,
      reused=reused,
  )
  return masks, by_difficulty, optimal


def _verifier_discrimination(scores, correct, texts, answers) -> dict:
  """``_discrimination`` of every verifier, with a warning for one whose
  top choice is no better than its bottom one."""
  n = correct.shape[1]
  discrimination = {
      k: _discrimination(v, correct, texts, answers) for k, v in scores.items()
  }
  for k, d in discrimination.items():
    if d["top_minus_bottom"][0] <= 0:
      logging.warning(
          "%s: its top choice among %d samples (%.3f) is not better than "
          "its bottom choice (%.3f): it does not rank a problem's own "
          "samples (within-problem AUROC %.3f)",
          k,
          n,
          d["top"],
          d["bottom"],
          d["within_problem_auroc"],
      )
  return discrimination


def _discrimination(scores_qn, correct_qn, texts_qn, answers_qn) -> dict:
  """How well a verifier ranks each problem's own samples.

  AUROC pooled over all samples (a difficulty detector scores high here)
  and within each problem's samples, per sample and per distinct text; the
  correctness of its top and of its bottom choice among all n, their paired
  difference with a 95% interval, and beside them a uniform pick among the
  distinct texts and majority voting, both at the same n.
  """
  n = correct_qn.shape[1]
  top, bottom = vm.top_bottom(scores_qn, correct_qn, n)
  maj = best_of_n.vote(answers_qn, correct_qn, n)
  vs_maj = stats.paired_delta(maj, top)
  return {
      "pooled_auroc": vm.auroc(scores_qn.ravel(), correct_qn.ravel()),
      "within_problem_auroc": vm.within_problem_auroc(scores_qn, correct_qn)[0],
      "within_problem_auroc_distinct": vm.within_problem_auroc(
          scores_qn, correct_qn, texts_qn
      )[0],
      "top": float(top.mean()),
      "bottom": float(bottom.mean()),
      "top_minus_bottom": stats.paired_delta(bottom, top)["ci95"],
      "random_distinct": float(
          vm.random_distinct(correct_qn, texts_qn, n).mean()
      ),
      "majority": float(maj.mean()),
      "top_minus_majority": vs_maj["delta"],
      "top_minus_majority_ci95": vs_maj["ci95"],
  }


WEIGHTED = ("orm", "prm_exact_min", "lmv_min")  # weighted_<name> selectors.


def _verifiers(ctx, verifier_workdir: str, max_steps: int) -> dict:
  """Every verifier ``verify`` saved, by the names it scores under
  (``registry.scorer_names``); a missing one is skipped."""
  rm = rm_lib.reward_model(ctx.model.cfg)
  score_steps, score_outcome = rm_lib.make_scorers(rm, max_steps)
  out = {}
  lmv = os.path.join(verifier_workdir, "lmv")
  if os.path.isdir(os.path.join(lmv, "checkpoints", "sft")):
    out.update({
        f"lmv_{k}": fn
        for k, fn in load_lm_verifier(
            lmv, ctx.config.data.max_prompt_len, max_steps
        ).items()
    })
  else:
    logging.warning("no lmv at %s: skipped", lmv)
  for name, v in registry.VERIFIERS.items():
    if v.kind == "likelihood":
      continue
    path = registry.params_dir(verifier_workdir, name)
    if not os.path.isdir(path):
      logging.warning("no %s at %s: skipped", name, path)
      continue
    model = ctx.model if v.kind == "generative" else rm
    params = checkpoint.read_params(path, rm_lib.abstract_params(model))
    if v.kind == "orm":
      out[name] = best_of_n.orm_verifier(score_outcome, params)
      continue
    if v.kind == "generative":
      fns = best_of_n.generative_verifiers(
          ctx.model, params, ctx.tok, max_steps, aggregate.HOW
      )
    else:
      fns = best_of_n.prm_verifiers(score_steps, params, aggregate.HOW)
    out.update({f"{name}_{how}": fn for how, fn in fns.items()})
  return out


def load_lm_verifier(workdir: str, prompt_len: int, max_steps: int) -> dict:
  """The likelihood verifier trained by ``verify`` (an SFT run in
  ``workdir``, its own model config) as ``{how | steps_<how>: fn}``."""
  with open(os.path.join(workdir, "config.json")) as f:
    m = json.load(f)["model"]
  model = CausalLM(ModelConfig(**m))
  params = jax.tree.map(
      jax.numpy.asarray, checkpoint.load_params(workdir, "sft")
  )
  return best_of_n.lm_verifiers(
      likelihood.make_scorer(model, prompt_len, max_steps),
      params,
      aggregate.HOW,
  )


def main(argv):
  del argv  # cli.run refuses extra arguments.
  print(tts_report.markdown(run(FLAGS.config, FLAGS.workdir)))


def define_flags() -> None:
  cli.define_flags("configs/tts.py", "runs/tts")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
