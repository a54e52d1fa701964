"""s1 budget forcing as an evaluation: greedy pass@1 and thinking length at
several thinking budgets (Muennighoff et al. 2025).

A minimum budget replaces an early ``</think>`` by ``tts.wait_text`` until
``min_think`` tokens were generated; a maximum budget forces ``</think>``
at ``max_think`` tokens (``sampling.sampler.Budget``, applied inside the
jitted decode loop). The ``budget`` stage runs this on the held-out set
after training, e.g. after s1-style SFT on a small curated set.
"""

import jax
import numpy as np

from reasoning_jax.sampling.sampler import Budget
from reasoning_jax.train import evaluation


def think_tokens(tok, texts) -> float:
  """Mean tokens up to and including ``</think>`` (all if never closed)."""
  n = []
  for t in texts:
    end = t.find("</think>")
    n.append(len(tok.encode(t if end < 0 else t[: end + len("</think>")])))
  return float(np.mean(n))


def budget_forcing(
    ctx, params, examples, greedy: dict, mins, maxs, wait_text: str
) -> list[dict]:
  """Rows ``{budget, pass@1, think_tokens}``: unforced (``greedy``, an
  ``evaluate`` result on ``examples``), then each minimum and maximum."""
  rows = [{
      "budget": "none",
      "pass@1": greedy["pass@1"],
      "think_tokens": think_tokens(ctx.tok, greedy["texts"].values()),
  }]
  close = ctx.tok.piece_id("</think>")
  wait = tuple(ctx.tok.encode(wait_text))
  budgets = [("min", m, Budget(close, wait, min_think=m)) for m in mins] + [
      ("max", m, Budget(close, max_think=m)) for m in maxs
  ]
  for name, m, b in budgets:
    r = evaluation.held_out_results(
        ctx.sampler(greedy=True, budget=b),
        params,
        ctx.tok,
        ctx.task,
        examples,
        jax.random.PRNGKey(0),
        max_prompt_len=ctx.config.data.max_prompt_len,
        batch_size=ctx.config.eval.batch_size,
    )
    rows.append({
        "budget": f"{name} {m}",
        "pass@1": r["pass@1"],
        "think_tokens": think_tokens(ctx.tok, r["texts"].values()),
    })
  return rows


def parse_budgets(text: str) -> list[int]:
  """``"16,24"`` -> ``[16, 24]``."""
  return [int(x) for x in text.split(",") if x.strip()]


def run_budget(ctx, params, stage: str = "budget"):
  """The ``budget`` stage: evaluation only; returns ``(params, result)``
  with the unforced summary and ``budget_forcing`` rows."""
  del stage
  c = ctx.config.budget
  greedy = ctx.evaluate(params)
  rows = budget_forcing(
      ctx,
      params,
      ctx.test_set,
      greedy,
      parse_budgets(c.min_think),
      parse_budgets(c.max_think),
      ctx.config.tts.wait_text,
  )
  result = evaluation.stage_result(greedy)
  result["correct"] = greedy["correct"]
  result["budget_forcing"] = rows
  return params, result
