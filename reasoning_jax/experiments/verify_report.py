"""The verifiers' evaluation (``verifier_eval.{md,json}``,
``verifier_loss.png``): each verifier against the exact labels of held-out
traces, pooled and within each problem, and Math-Shepherd labels against
exact ones. ``reasoning_jax.verify`` runs it as its ``eval`` stage."""

import functools
import os

from matplotlib.figure import Figure
import numpy as np

from reasoning_jax.rewards import aggregate
from reasoning_jax.verifiers import generative as gv
from reasoning_jax.verifiers import likelihood
from reasoning_jax.verifiers import metrics as vm
from reasoning_jax.verifiers import registry
from reasoning_jax.verifiers import reward_model as rm_lib


def problems(traces):
  """Each trace's problem index (traces of one prompt share it)."""
  return np.unique([t.prompt for t in traces], return_inverse=True)[1]


def evaluate_verifiers(
    ctx, models, histories, eval_set, traces, v, lmv=None
) -> dict:
  """Scores the held-out traces with each model; see the module docstring.

  Besides pooled step and outcome AUROC (which a detector of hard problems
  can score well on), each verifier's step and outcome AUROC *within* each
  problem's own samples: what best-of-N needs."""
  rm = rm_lib.reward_model(ctx.model.cfg)
  score_steps, score_outcome = rm_lib.make_scorers(rm, v.max_steps)
  mask, gold = eval_set.step_valid, eval_set.labels
  correct = eval_set.correct
  res = {
      "eval_traces": len(eval_set),
      "eval_steps": int(mask.sum()),
      "eval_step_positive_rate": float(gold[mask].mean()),
      "eval_outcome_positive_rate": float(correct.mean()),
      "models": {},
  }

  problem = problems(traces["eval"])  # [B] problem index.
  step_problem = np.broadcast_to(problem[:, None], mask.shape)
  items = dict(models)
  if lmv is not None:
    items["lmv"] = lmv
  for name, params in items.items():
    r = (
        {
            "eval_loss_before": histories[name]["eval_loss"][0][1],
            "eval_loss_after": histories[name]["eval_loss"][-1][1],
            "train_seconds": histories[name]["train_seconds"],
        }
        if name in histories
        else {}
    )
    if not registry.VERIFIERS[name].per_step:  # an outcome score (the ORM).
      p = rm_lib.chunked(
          functools.partial(score_outcome, params),
          eval_set.ids,
          eval_set.valid,
          eval_set.last,
      )
    else:
      s, spans = _step_scores(ctx, name, params, eval_set, v, score_steps)
      r["step_acc"] = float(((s >= 0.5) == (gold >= 0.5))[mask].mean())
      r["step_auroc"] = vm.auroc(s[mask], gold[mask] >= 0.5)
      r["step_auroc_within_problem"] = vm.within_group_auroc(
          s[mask], gold[mask], step_problem[mask]
      )[0]
      r["first_error"] = vm.first_error_f1(s, gold, mask)
      p = np.asarray(aggregate.aggregate_step_scores(*spans, "min"))
    r["outcome_acc"] = float(((p >= 0.5) == (correct >= 0.5)).mean())
    r["outcome_auroc"] = vm.auroc(p, correct >= 0.5)
    r["outcome_auroc_within_problem"] = vm.within_group_auroc(
        p, correct, problem
    )[0]
    res["models"][name] = r
  ms = _math_shepherd(traces["train"])
  if ms:
    res["math_shepherd"] = ms
  return res


def _step_scores(ctx, name, params, eval_set, v, score_steps):
  """``(s [B, S] step scores, spans)``: the spans (scores, mask) that
  aggregate into the outcome score; the likelihood verifier scores the
  answer as one more span."""
  kind = registry.VERIFIERS[name].kind
  if kind == "generative":
    query, yes, no = gv.answer_ids(ctx.tok)
    s = gv.scores(
        ctx.model,
        params,
        gv.query_batch(eval_set, query, ctx.tok.pad_id),
        len(eval_set),
        v.max_steps,
        yes,
        no,
    )
    return s, (s, eval_set.step_valid)
  if kind == "likelihood":
    scorer = likelihood.make_scorer(
        params[0], ctx.config.data.max_prompt_len, v.max_steps
    )
    s, _, tail, tail_ok = rm_lib.chunked(
        functools.partial(scorer, params[1]),
        eval_set.ids,
        eval_set.valid,
        eval_set.boundary,
    )
    return s, likelihood.with_tail(s, eval_set.step_valid, tail, tail_ok)
  s, _ = rm_lib.chunked(
      functools.partial(score_steps, params),
      eval_set.ids,
      eval_set.valid,
      eval_set.boundary,
  )  # a PRM.
  return s, (s, eval_set.step_valid)


def _math_shepherd(train_traces) -> dict | None:
  """Math-Shepherd labels against exact ones, on the labelled train
  traces (None when none has both)."""
  soft, hard, exact = [], [], []
  for t in train_traces:
    if t.soft is not None and t.exact is not None:
      soft += t.soft
      hard += t.hard
      exact += t.exact
  if not exact:
    return None
  soft, hard, exact = map(np.asarray, (soft, hard, exact))
  return {
      "steps": int(len(exact)),
      "soft_acc": float(((soft >= 0.5) == (exact == 1)).mean()),
      "hard_acc": float((hard == exact).mean()),
      "soft_auroc": vm.auroc(soft, exact == 1),
      "hard_false_positive_rate": (
          float(hard[exact == 0].mean()) if (exact == 0).any() else float("nan")
      ),
  }


def _num(x) -> str:
  return "–" if x is None else f"{x:.3f}"


def _row(name: str, r: dict) -> str:
  """One verifier's table row."""
  pair = lambda k: (
      f"{_num(r.get(k))} / {_num(r.get(k + '_within_problem'))}"
      if r.get(k) is not None
      else "–"
  )
  fe = r.get("first_error")
  fe_s = (
      f"{fe['f1']:.3f} ({fe['error_acc']:.3f} / {fe['correct_acc']:.3f})"
      if fe
      else "–"
  )
  loss = (
      f"{r['eval_loss_before']:.3f} → {r['eval_loss_after']:.3f}"
      if "eval_loss_before" in r
      else "–"
  )
  return (
      f"| {name} | {_num(r.get('step_acc'))} | {pair('step_auroc')} | "
      f"{fe_s} | {_num(r['outcome_acc'])} | {pair('outcome_auroc')} | "
      f"{loss} |"
  )


def table(out) -> str:
  """The evaluation as Markdown."""
  lines = [
      (
          f"Policy (SFT) held-out greedy pass@1: {out['policy_pass@1']:.3f}. "
          f"Held-out: {out.get('eval_traces')} traces, {out.get('eval_steps')} "
          f"steps ({out.get('eval_step_positive_rate', 0):.1%} correct steps, "
          f"{out.get('eval_outcome_positive_rate', 0):.1%} correct answers).\n"
      ),
      (
          "AUROC pooled over all traces / within each problem's own samples "
          "(a detector of hard problems scores well pooled and 0.5 within; "
          "best-of-N needs the latter).\n"
      ),
      (
          "| verifier | step acc | step AUROC (pooled / within) | first-error "
          "F1 (err / ok) | outcome acc | outcome AUROC (pooled / within) | "
          "held-out loss before → after |"
      ),
      "|---|---|---|---|---|---|---|",
  ]
  lm = out.get("lmv") or {}
  names = {
      k: v.title.format(ms_label=out.get("ms_label", ""))
      for k, v in registry.VERIFIERS.items()
  }
  names["lmv"] += (
      f" (LM on {lm.get('examples', 0):,} gold solutions, "
      f"{lm.get('steps', 0)} steps; its own pass@1 "
      f"{lm.get('pass@1', float('nan')):.3f})"
  )
  lines += [_row(names[k], r) for k, r in out.get("models", {}).items()]
  ms = out.get("math_shepherd")
  if ms:
    lines += [
        "",
        (
            f"Math-Shepherd labels vs exact labels on {ms['steps']} "
            f"train steps: soft ≥ 0.5 agrees {ms['soft_acc']:.3f}, hard "
            f"agrees {ms['hard_acc']:.3f}, soft AUROC "
            f"{ms['soft_auroc']:.3f}, hard false-positive rate "
            f"{ms['hard_false_positive_rate']:.3f}."
        ),
    ]
  secs = out.get("seconds", {})
  lines += [
      "",
      "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items()),
  ]
  return "\n".join(lines) + "\n"


def plot(workdir, histories):
  fig = Figure(figsize=(6, 4))
  ax = fig.subplots()
  for name, h in histories.items():
    ax.plot(*zip(*h["eval_loss"]), marker="o", label=name)
  ax.set(
      xlabel="step", ylabel="held-out BCE (exact labels)", title="Reward models"
  )
  ax.legend()
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "verifier_loss.png"), dpi=100)
