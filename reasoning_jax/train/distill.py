"""Distillation (R1-Distill): a student trained by SFT on a teacher's
verified traces.

The teacher is a finished run: its workdir holds ``config.json`` (its model,
tokenizer and task) and its checkpoints. It samples ``distill.samples``
completions per prompt on ``distill.problems`` train problems; the task's
rule verifier keeps the correct ones, deduplicated per prompt
(``rejection.accepted_examples``); nothing else reaches the student. Traces
travel as text, so the student may have another size and another
tokenizer. The student (this run's model, from the previous stage or a
fresh init) is then fine-tuned on them; a following ``rl`` stage gives
"distill + RL". The kept traces are written to ``<workdir>/<stage>.jsonl``.
"""

import json
import os

import jax
import jax.numpy as jnp
import ml_collections

from reasoning_jax.config import ConfigError
from reasoning_jax.data import tasks
from reasoning_jax.train import checkpoint
from reasoning_jax.train import context
from reasoning_jax.train import rejection
from reasoning_jax.train import sft
from reasoning_jax.verifiers import label


def teacher_config(workdir: str, *, mesh, rules) -> ml_collections.ConfigDict:
  """The config a finished run saved in ``<workdir>/config.json``, on this
  run's ``mesh`` section and logical axis ``rules``."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ConfigError(
        f"config.distill.teacher_workdir={workdir!r}: no "
        "config.json there (is it a reasoning_jax.main "
        "workdir?)"
    )
  with open(path, encoding="utf-8") as f:
    saved = json.load(f)
  saved["mesh"], saved["logical_axis_rules"] = dict(mesh), rules
  model = saved["model"]  # JSON made tuples lists.
  model["rope_scaling"] = tuple(model["rope_scaling"])
  return ml_collections.ConfigDict(saved)


def teacher_traces(ctx):
  """``(problems, traces)``: the teacher's samples on this run's problems
  (``label.Trace``: completion text and the verifier's verdict), a pure
  function of the teacher's parameters and ``config.seed``."""
  c = ctx.config.distill
  tcfg = teacher_config(
      c.teacher_workdir,
      mesh=ctx.config.mesh.to_dict(),
      rules=ctx.config.logical_axis_rules,
  )
  teacher = context.build_context(tcfg, c.teacher_workdir)
  stage = (
      c.teacher_stage
      or context.stage_names(
          [s for s in tcfg.stages.split(",") if s], tcfg.rl.algorithm
      )[-1]
  )
  params = jax.tree.map(
      jnp.asarray, checkpoint.load_params(c.teacher_workdir, stage)
  )
  problems = [ctx.fresh_example(i) for i in range(c.problems)]
  bs = ctx.config.eval.batch_size
  rng = jax.random.PRNGKey(ctx.config.seed + 43)
  traces = label.sample_traces(
      teacher,
      params,
      problems,
      c.samples,
      rng,
      temperature=c.temperature,
      batch_size=bs - bs % c.samples,
  )
  return problems, traces


def run_distill(ctx, params, *, stage: str = "distill"):
  """The distillation stage; returns ``(params, result)``."""
  c = ctx.config.distill
  path = os.path.join(ctx.logdir, f"{stage}.jsonl")
  sampled = None
  if os.path.exists(path):  # sampled before a restart: reuse.
    data = tasks.load_examples(path)
  else:
    problems, traces = teacher_traces(ctx)
    data = rejection.accepted_examples(
        [problems[i // c.samples] for i in range(len(traces))],
        [t.completion for t in traces],
        [t.correct for t in traces],
    )
    sampled = len(traces)
    if not data:
      raise RuntimeError(
          f"{stage}: the teacher solved none of {c.problems} "
          f"problems x {c.samples} samples"
      )
    if jax.process_index() == 0:
      tasks.save_examples(path, data)
  params, result = sft.fine_tune(
      ctx,
      params,
      data,
      stage=stage,
      steps=c.steps,
      learning_rate=c.learning_rate,
  )
  result.update(distill_sampled=sampled, distill_examples=len(data))
  return params, result
