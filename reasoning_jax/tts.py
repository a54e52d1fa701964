r"""Test-time scaling evaluation: accuracy vs N and vs FLOPs, per method.

  python -m reasoning_jax.tts --config=configs/tts.py --workdir=runs/tts

Loads the policy from ``tts.policy_workdir`` (stage ``tts.policy_stage``,
e.g. the default job's ``rl_grpo``) and the ORM / PRM saved by
``reasoning_jax.verify`` in ``tts.verifier_workdir``. On ``tts.num_problems``
test problems it measures greedy pass@1, then samples ``tts.n_max``
completions per problem in one batched pass and, for N = 1, 2, 4, ...,
n_max, reports self-consistency (majority vote), PRM-weighted voting,
best-of-N under the ORM and under the PRM with each aggregation (min, prod,
mean, last), unbiased pass@N and the oracle 1 − (1 − p̂₁)^N, each with a
bootstrap 95% interval (and best-of-N under the generative verifier when
``verify`` trained one), plus FLOPs per problem (generation + verifier
passes). With ``tts.budget_min`` / ``tts.budget_max`` it also decodes
greedily under s1 budget forcing and reports pass@1 and thinking length.
Writes ``tts.json``, ``tts.md``, ``tts_vs_n.png`` and ``tts_vs_flops.png``.
A missing verifier is skipped with a warning.
"""

import json
import os
import sys
import time

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS


def run(config, workdir: str) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from reasoning_jax import bench, pipeline  # pylint: disable=g-import-not-at-top
  from reasoning_jax.rewards import answers as answers_lib  # pylint: disable=g-import-not-at-top
  from reasoning_jax.search import best_of_n  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import checkpoint  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import label as label_lib  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import reward_model as rm_lib  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import steps as steps_lib  # pylint: disable=g-import-not-at-top

  t0 = time.perf_counter()
  c = config.tts
  ctx = pipeline.build_context(config, workdir)
  params = jax.tree.map(jax.numpy.asarray, checkpoint.load_params(
      c.policy_workdir, c.policy_stage))
  examples = [ctx.task.example("test", i) for i in range(c.num_problems)]
  greedy = ctx.evaluate(params, c.num_problems)
  budget = _budget_forcing(ctx, params, examples, greedy, c)
  logging.info("greedy pass@1 %.3f; budget forcing %s; sampling %d x %d",
               greedy["pass@1"], budget, len(examples), c.n_max)
  traces = label_lib.sample_traces(
      ctx, params, examples, c.n_max, jax.random.PRNGKey(config.seed + 11),
      temperature=c.temperature, batch_size=c.batch_size)
  q, n = len(examples), c.n_max
  correct = np.asarray([t.correct for t in traces], float).reshape(q, n)
  answers = np.asarray([answers_lib.extract_answer(t.completion)
                        for t in traces], object).reshape(q, n)
  sample_s = time.perf_counter() - t0

  sb = steps_lib.encode_traces(
      ctx.tok, traces, prompt_len=config.data.max_prompt_len,
      completion_len=config.data.max_new_tokens,
      max_steps=config.verifier.max_steps)
  rm = rm_lib.reward_model(ctx.model.cfg)
  score_steps, score_outcome = rm_lib.make_scorers(
      rm, config.verifier.max_steps)
  verifiers = {}
  for name in ("orm", "prm_exact", "prm_ms"):
    path = os.path.join(c.verifier_workdir, f"{name}_params")
    if not os.path.isdir(path):
      logging.warning("no %s at %s: skipped", name, path)
      continue
    vp = rm_lib.load_params(path, rm)
    if name == "orm":
      verifiers["orm"] = best_of_n.orm_verifier(score_outcome, vp)
    else:
      for how, fn in best_of_n.prm_verifiers(score_steps, vp,
                                             rm_lib.HOW).items():
        verifiers[f"{name}_{how}"] = fn
  path = os.path.join(c.verifier_workdir, "genver_params")
  if os.path.isdir(path):
    verifiers["genver_min"] = best_of_n.generative_verifier(
        ctx.model, rm_lib.load_params(path, ctx.model), ctx.tok,
        config.verifier.max_steps)
  logging.info("sampled in %.0f s, pass@1 %.3f; scoring with %s",
               sample_s, correct.mean(), sorted(verifiers))
  scores = {}
  for k, fn in verifiers.items():
    t = time.perf_counter()
    scores[k] = fn(sb).reshape(q, n)
    logging.info("%s: %.1f s", k, time.perf_counter() - t)
  from reasoning_jax.verifiers import metrics as vm  # pylint: disable=g-import-not-at-top
  mixed = [i for i in range(q) if 0 < correct[i].sum() < n]
  discrimination = {  # pooled, and within a problem's own samples.
      k: {"pooled_auroc": vm.auroc(v.ravel(), correct.ravel()),
          "within_problem_auroc": float(np.mean(
              [vm.auroc(v[i], correct[i]) for i in mixed]))
              if mixed else float("nan")}
      for k, v in scores.items()}
  ns = [2 ** i for i in range(20) if 2 ** i <= n]
  weights = "prm_exact_min" if "prm_exact_min" in scores else None
  table = best_of_n.scaling_table(answers, correct,
                                  [e.answer for e in examples], scores, ns,
                                  vote_weights=weights)

  # FLOPs per problem: N generations, plus one verifier pass per sample.
  m = config.model
  seq = config.data.max_prompt_len / 2 + float(
      np.mean([len(ctx.tok.encode(t.completion)) + 1 for t in traces]))
  gen = seq * bench.model_flops_per_token(m, seq / 2)
  flops = {}
  for method in table:
    per = gen + (gen if method.startswith(("bon_", "weighted")) else 0.0)
    flops[method] = {nn: per * nn for nn in ns}
  beam = None
  prm_path = os.path.join(c.verifier_workdir, "prm_exact_params")
  if c.beam_width and os.path.isdir(prm_path):
    beam = _beam(ctx, params, examples, rm_lib.load_params(prm_path, rm),
                 score_steps, c, config)
    flops["beam_prm_exact"] = {c.beam_width: beam.pop("children_per_problem")
                                             * gen}
    table["beam_prm_exact"] = {c.beam_width: beam.pop("accuracy")}
  out = {"task": config.task.name, "difficulty": config.task.difficulty,
         "problems": q, "n_max": n, "temperature": c.temperature,
         "greedy_pass@1": greedy["pass@1"], "budget_forcing": budget,
         "sample_pass@1": float(correct.mean()), "methods": table,
         "flops_per_problem": flops, "verifier_auroc": discrimination,
         "beam": beam,
         "seconds": {"sampling": sample_s,
                     "total": time.perf_counter() - t0}}
  if jax.process_index() == 0:
    os.makedirs(ctx.logdir, exist_ok=True)
    with open(os.path.join(ctx.logdir, "tts.json"), "w") as f:
      json.dump(out, f, indent=2)
    with open(os.path.join(ctx.logdir, "tts.md"), "w") as f:
      f.write(markdown(out))
    _plot(ctx.logdir, out)
  return out


def _beam(ctx, params, examples, prm_params, score_steps, c, config):
  """PRM-exact-guided step beam search over all problems (batched)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from reasoning_jax.search import beam as beam_lib  # pylint: disable=g-import-not-at-top
  from reasoning_jax.search import metrics  # pylint: disable=g-import-not-at-top
  t = time.perf_counter()
  expand = beam_lib.policy_expander(
      ctx, params, examples, jax.random.PRNGKey(config.seed + 13),
      temperature=c.temperature, batch_size=c.batch_size, k=c.beam_k)
  score = beam_lib.prm_step_scorer(ctx, score_steps, prm_params, examples,
                                   max_steps=config.verifier.max_steps)
  best, children = beam_lib.beam_search(
      expand, score, len(examples), width=c.beam_width, expand_k=c.beam_k,
      max_steps=c.beam_max_steps, is_done=beam_lib.is_done)
  ok = np.asarray([ctx.task.is_correct(b.text, e)
                   for b, e in zip(best, examples)], float)
  secs = time.perf_counter() - t
  lo, hi = metrics.bootstrap_ci(ok)
  logging.info("beam search: acc %.3f, %d children in %.0f s", ok.mean(),
               children, secs)
  return {"width": c.beam_width, "k": c.beam_k,
          "accuracy": {"acc": float(ok.mean()), "ci": [lo, hi]},
          "children_per_problem": children / len(examples),
          "expansions_per_s": children / secs, "seconds": secs}


def _think_tokens(tok, texts) -> float:
  """Mean tokens up to and including ``</think>`` (all if never closed)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  n = []
  for t in texts:
    end = t.find("</think>")
    n.append(len(tok.encode(t if end < 0 else t[:end + len("</think>")])))
  return float(np.mean(n))


def _budget_forcing(ctx, params, examples, greedy, c) -> list[dict]:
  """Greedy pass@1 and thinking length without and with s1 budgets."""
  import jax  # pylint: disable=g-import-not-at-top
  from reasoning_jax.sampling.sampler import Budget  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import evaluate as evaluate_lib  # pylint: disable=g-import-not-at-top
  rows = [{"budget": "none", "pass@1": greedy["pass@1"],
           "think_tokens": _think_tokens(ctx.tok, greedy["texts"].values())}]
  close = ctx.tok.piece_id("</think>")
  wait = tuple(ctx.tok.encode(c.wait_text))
  for name, b in (("min", Budget(close, wait, min_think=c.budget_min)),
                  ("max", Budget(close, max_think=c.budget_max))):
    if not (c.budget_min if name == "min" else c.budget_max):
      continue
    r = evaluate_lib.evaluate(
        ctx.sampler(greedy=True, budget=b), params, ctx.tok, ctx.task,
        examples, jax.random.PRNGKey(0),
        max_prompt_len=ctx.config.data.max_prompt_len,
        batch_size=ctx.config.eval.batch_size)
    rows.append({"budget": f"{name} {b.min_think or b.max_think}",
                 "pass@1": r["pass@1"],
                 "think_tokens": _think_tokens(ctx.tok, r["texts"].values())})
  return rows


def markdown(out) -> str:
  ns = sorted({int(k) for r in out["methods"].values() for k in r})
  lines = [f"{out['task']} (difficulty {out['difficulty']}), "
           f"{out['problems']} test problems, T = {out['temperature']}: "
           f"greedy pass@1 {out['greedy_pass@1']:.3f}, sampled pass@1 "
           f"{out['sample_pass@1']:.3f}. Accuracy [95% bootstrap CI]:\n",
           "| method | " + " | ".join(f"N={k}" for k in ns) + " |",
           "|---" * (len(ns) + 1) + "|"]
  for name, r in out["methods"].items():
    cells = [f"{r[k]['acc']:.3f} [{r[k]['ci'][0]:.2f}, {r[k]['ci'][1]:.2f}]"
             if k in r else "–" for k in ns]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  if out.get("beam"):
    b = out["beam"]
    lines += ["", f"PRM (exact) step beam search, width {b['width']}, "
              f"{b['k']} steps sampled per beam: accuracy in the table row "
              f"`beam_prm_exact` (column N = width); "
              f"{b['expansions_per_s']:.0f} expansions/s, "
              f"{b['seconds']:.0f} s."]
  if out.get("verifier_auroc"):
    lines += ["", "Verifier AUROC for sample correctness: pooled over all "
              "samples / mean within a problem's own samples (what "
              "best-of-N needs):", "",
              "| verifier | pooled | within problem |", "|---|---|---|"]
    lines += [f"| {k} | {v['pooled_auroc']:.3f} | "
              f"{v['within_problem_auroc']:.3f} |"
              for k, v in out["verifier_auroc"].items()]
  if len(out.get("budget_forcing", [])) > 1:
    lines += ["", "s1 budget forcing (greedy):", "",
              "| budget | pass@1 | thinking tokens |", "|---|---|---|"]
    lines += [f"| {r['budget']} | {r['pass@1']:.3f} | "
              f"{r['think_tokens']:.1f} |" for r in out["budget_forcing"]]
  s = out["seconds"]
  lines.append(f"\nSampling {s['sampling']:.0f} s, total {s['total']:.0f} s.")
  return "\n".join(lines) + "\n"


def _plot(workdir, out):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  for x_name, fname in (("N", "tts_vs_n.png"), ("FLOPs", "tts_vs_flops.png")):
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, r in out["methods"].items():
      ns = sorted(int(k) for k in r)
      x = ns if x_name == "N" else [out["flops_per_problem"][name][k]
                                    for k in ns]
      style = "--" if name in ("oracle", "pass@N") else "-"
      ax.plot(x, [r[k]["acc"] for k in ns], style, marker="o", ms=3,
              label=name)
    ax.axhline(out["greedy_pass@1"], color="k", lw=0.8, ls=":",
               label="greedy")
    ax.set_xscale("log", base=2 if x_name == "N" else 10)
    ax.set(xlabel=f"{x_name} per problem", ylabel="accuracy",
           title=f"{out['task']}: accuracy vs {x_name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, fname), dpi=100)
    plt.close(fig)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from reasoning_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import metrics  # pylint: disable=g-import-not-at-top
  metrics.setup_logging()
  try:
    out = run(FLAGS.config, FLAGS.workdir)
  except (config_lib.ConfigError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  print(markdown(out))


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", "configs/tts.py",
                                  "Path to a configs/*.py file.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", "runs/tts", "Output directory.")
  app.run(main)
