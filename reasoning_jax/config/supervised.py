"""The supervised stages: pretrain, sft (cold start), rs, distill, and budget."""

import ml_collections

from reasoning_jax.config.checks import check
from reasoning_jax.config.checks import optimizer
from reasoning_jax.config.checks import positive_ints


def defaults() -> ml_collections.ConfigDict:
  """This section's fields with their defaults."""
  c = ml_collections.ConfigDict()
  # Base-model pretraining (stage pretrain, for R1-Zero): documents of
  # train problems followed by a bare answer, or (share `think`) a worked
  # solution, of which a share `reflect` has a wrong step, "wait" and the
  # fix; loss on every token. See train/pretrain.py.
  c.pretrain = dict(
      num_examples=20000, steps=600, learning_rate=3e-3, think=0.5, reflect=0.2
  )
  # Cold start: the first num_examples train problems' worked solutions, a
  # fixed step count (num_examples = steps * batch_size: a stream, each
  # problem seen once). curate_pool > 0: the num_examples are chosen
  # s1-style (quality, difficulty, diversity; data/curate.py) from that
  # many. bare_share > 0: the teacher states the bare answer, no steps, on
  # that share of the problems of at most bare_max_steps steps
  # (data/cold_start.py).
  c.sft = dict(
      num_examples=1000,
      batch_size=64,
      steps=300,
      learning_rate=3e-3,
      warmup_steps=30,
      weight_decay=0.01,
      b1=0.9,
      b2=0.95,
      max_grad_norm=1.0,
      schedule="cosine",
      curate_pool=0,
      bare_share=0.0,
      bare_max_steps=0,
  )
  # Rejection-sampling SFT (stage rs): samples per prompt on `problems`
  # train prompts past the cold-start set, accepted by the rule verifier,
  # deduplicated, plus a `mix` share of reference solutions; SFT steps, lr.
  c.rs = dict(
      problems=512,
      samples=8,
      temperature=0.7,
      mix=0.25,
      steps=300,
      learning_rate=3e-4,
  )
  # Distillation (stage distill): the teacher run's workdir (its config.json
  # and checkpoint `teacher_stage`, "" = its last stage) samples `samples`
  # per prompt on `problems` train prompts; the verified, deduplicated
  # traces train this run's model by SFT (`steps`, `learning_rate`).
  c.distill = dict(
      teacher_workdir="",
      teacher_stage="",
      problems=1024,
      samples=4,
      temperature=0.7,
      steps=600,
      learning_rate=3e-3,
  )
  # Stage budget: held-out greedy pass@1 with s1 budget forcing at each
  # minimum and maximum thinking budget (comma-separated token counts;
  # tts.wait_text replaces an early </think>).
  c.budget = dict(min_think="", max_think="")
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field of this section."""
  _validate_sft(config)
  _validate_pretrain(config)
  _validate_rs(config)
  _validate_distill(config)
  _validate_budget(config)


def _validate_sft(config) -> None:
  """The cold start (whose fields other stages reuse)."""
  s = config.sft
  for f in ("num_examples", "batch_size"):
    check(s[f] > 0, f"sft.{f}", "must be > 0", s[f])
  check(s.steps >= 0, "sft.steps", "must be >= 0", s.steps)
  optimizer(s, "sft")
  check(
      s.schedule in ("cosine", "constant"),
      "sft.schedule",
      "must be 'cosine' or 'constant'",
      s.schedule,
  )
  check(
      0 <= s.bare_share <= 1,
      "sft.bare_share",
      "must be in [0, 1]",
      s.bare_share,
  )
  check(
      isinstance(s.bare_max_steps, int) and s.bare_max_steps >= 0,
      "sft.bare_max_steps",
      "must be an integer >= 0",
      s.bare_max_steps,
  )
  check(
      config.sft.curate_pool == 0
      or config.sft.curate_pool >= config.sft.num_examples,
      "sft.curate_pool",
      f"must be 0 or >= sft.num_examples={config.sft.num_examples}",
      config.sft.curate_pool,
  )


def _validate_pretrain(config) -> None:
  """Base-model pretraining."""
  p = config.pretrain
  positive_ints(p, "pretrain", ("num_examples", "steps"))
  check(
      p.learning_rate > 0,
      "pretrain.learning_rate",
      "must be > 0",
      p.learning_rate,
  )
  for f in ("think", "reflect"):
    check(0 <= p[f] <= 1, f"pretrain.{f}", "must be in [0, 1]", p[f])


def _validate_rs(config) -> None:
  """Rejection-sampling SFT."""
  r = config.rs
  positive_ints(r, "rs", ("problems", "samples", "steps"))
  check(
      r.samples <= config.eval.batch_size,
      "rs.samples",
      f"must be <= eval.batch_size={config.eval.batch_size}",
      r.samples,
  )
  for f in ("temperature", "learning_rate"):
    check(r[f] > 0, f"rs.{f}", "must be > 0", r[f])
  check(r.mix >= 0, "rs.mix", "must be >= 0", r.mix)


def _validate_distill(config) -> None:
  """Distillation from a teacher run."""
  stages = [s for s in config.stages.split(",") if s]
  d = config.distill
  check(
      "distill" not in stages or bool(d.teacher_workdir),
      "distill.teacher_workdir",
      "must name the teacher run's workdir for stage distill",
      d.teacher_workdir,
  )
  positive_ints(d, "distill", ("problems", "samples", "steps"))
  check(
      d.samples <= config.eval.batch_size,
      "distill.samples",
      f"must be <= eval.batch_size={config.eval.batch_size}",
      d.samples,
  )
  for f in ("temperature", "learning_rate"):
    check(d[f] > 0, f"distill.{f}", "must be > 0", d[f])


def _validate_budget(config) -> None:
  """s1 budget forcing (stage budget)."""
  for f in ("min_think", "max_think"):
    v = config.budget[f]
    check(
        isinstance(v, str)
        and all(
            x.strip().isdigit() and int(x) > 0
            for x in v.split(",")
            if x.strip()
        ),
        f"budget.{f}",
        "must be comma-separated positive token counts",
        v,
    )
  check(
      bool(config.tts.wait_text) or not config.budget.min_think,
      "tts.wait_text",
      "must be non-empty for budget.min_think",
      config.tts.wait_text,
  )
