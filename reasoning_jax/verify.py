r"""Verifiers end to end: traces, Math-Shepherd labels, ORM / PRM, evaluation.

  python -m reasoning_jax.verify --config=configs/verifier.py \
      --workdir=runs/verifier

Stages (``verifier.stages``, each resumable; finished ones are read back):

1. policy: the config's SFT stage (or the SFT checkpoint in
   ``verifier.policy_workdir``);
2. ``traces``: ``samples_per_problem`` sampled completions of
   ``train_problems`` train problems (past the cold-start set) and
   ``eval_problems`` test problems, with outcome and exact step labels, to
   ``traces/{train,eval}.jsonl`` (format: ``verifiers.steps``);
3. ``label``: Math-Shepherd soft/hard labels on the train traces (``ms_k``
   continuations per step prefix), written back to ``traces/train.jsonl``;
4. one stage per verifier (``verifiers/registry.py``): ``orm``,
   ``prm_exact``, ``prm_ms``: an ORM on outcomes, a PRM on exact step labels
   and one on Math-Shepherd labels (``verifier.ms_label``: hard or soft),
   each from the policy's backbone; ``genver``: a generative verifier, the
   policy's LM fine-tuned to answer "1"/"0" after each step on the exact
   labels; ``lmv``: the likelihood verifier, an LM of its own trained on
   gold solutions (``verifier.lm_*``);
5. ``eval``: on the held-out traces, against their exact labels: step
   accuracy and AUROC, first-error F1 (ProcessBench style), outcome accuracy
   and AUROC (PRMs aggregated with ``min``), held-out loss before and after
   training; and the agreement of Math-Shepherd labels with exact ones. Writes
   ``verifier_eval.{md,json}`` and ``verifier_loss.png``.
"""

import dataclasses
import functools
import json
import os
import time

from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from reasoning_jax import cli
from reasoning_jax import config as config_lib
from reasoning_jax import pipeline
from reasoning_jax.experiments import verify_report
from reasoning_jax.train import checkpoint
from reasoning_jax.train import context
from reasoning_jax.train import sft
from reasoning_jax.train import verifier_fit
from reasoning_jax.verifiers import generative as gv
from reasoning_jax.verifiers import label as label_lib
from reasoning_jax.verifiers import registry
from reasoning_jax.verifiers import steps as steps_lib

FLAGS = flags.FLAGS


def run(config, workdir: str) -> dict:
  """The stages of ``verifier.stages`` in order (traces, label, orm,
  prm_exact, prm_ms, genver, lmv, eval); returns the evaluation dict."""

  t0 = time.perf_counter()
  v = config.verifier
  stages = [s for s in v.stages.split(",") if s]
  ctx = context.build_context(config, workdir)
  policy_ctx = (
      dataclasses.replace(ctx, workdir=v.policy_workdir)
      if v.policy_workdir
      else ctx
  )
  policy, sft_result = sft.run_sft(policy_ctx, None)
  out = {
      "policy_pass@1": sft_result["pass@1"],
      "ms_label": v.ms_label,
      "seconds": {},
  }
  tdir = os.path.join(ctx.logdir, "traces")
  paths = {s: os.path.join(tdir, f"{s}.jsonl") for s in ("train", "eval")}
  rng = jax.random.PRNGKey(config.seed + 7)

  traces, rng = _traces(ctx, config, policy, paths, rng, stages, out)
  if "label" in stages:
    _label(ctx, policy, traces, paths, rng, v, out)
  shape = dict(
      prompt_len=config.data.max_prompt_len,
      completion_len=config.data.max_new_tokens,
      max_steps=v.max_steps,
  )
  eval_set = steps_lib.encode_traces(ctx.tok, traces["eval"], **shape)
  models, histories = _reward_models(
      ctx, config, policy, traces, eval_set, shape, stages, out
  )
  if "genver" in stages:
    _genver(
        ctx, config, policy, traces, eval_set, shape, models, histories, out
    )

  lmv = None  # the likelihood verifier: an LM trained on gold solutions.
  if "lmv" in stages:
    t = time.perf_counter()
    lmv, out["lmv"] = train_lm_verifier(config, ctx, workdir)
    out["seconds"]["lmv"] = time.perf_counter() - t

  if "eval" in stages:
    out.update(
        verify_report.evaluate_verifiers(
            ctx, models, histories, eval_set, traces, v, lmv
        )
    )
    out["seconds"]["total"] = time.perf_counter() - t0
    if jax.process_index() == 0:
      with open(os.path.join(ctx.logdir, "verifier_eval.json"), "w") as f:
        json.dump(out, f, indent=2)
      with open(os.path.join(ctx.logdir, "verifier_eval.md"), "w") as f:
        f.write(verify_report.table(out))
      verify_report.plot(ctx.logdir, histories)
  return out


def _traces(ctx, config, policy, paths, rng, stages, out):
  """Stage ``traces``: the policy's samples on train and eval problems,
  written once as JSONL; returns ({split: traces}, rng)."""
  v = config.verifier
  if "traces" in stages and not all(map(os.path.exists, paths.values())):
    t = time.perf_counter()
    first = config.sft.num_examples  # past the cold-start problems.
    problems = {
        "train": [
            ctx.task.example("train", first + i)
            for i in range(v.train_problems)
        ],
        "eval": [ctx.task.example("test", i) for i in range(v.eval_problems)],
    }
    for split, exs in problems.items():
      rng, key = jax.random.split(rng)
      steps_lib.write_jsonl(
          paths[split],
          label_lib.sample_traces(
              ctx,
              policy,
              exs,
              v.samples_per_problem,
              key,
              temperature=v.temperature,
              batch_size=v.batch_size,
          ),
      )
    out["seconds"]["traces"] = time.perf_counter() - t
  traces = {s: steps_lib.read_jsonl(p) for s, p in paths.items()}
  for s, tr in traces.items():
    logging.info(
        "%s traces: %d, correct %.3f",
        s,
        len(tr),
        np.mean([t.correct for t in tr]),
    )
  return traces, rng


def _label(ctx, policy, traces, paths, rng, v, out) -> None:
  """Stage ``label``: Math-Shepherd soft/hard step labels of the train
  traces from ``ms_k`` policy continuations per step prefix (rewritten in
  place once)."""
  if not any(t.soft is None and t.steps for t in traces["train"]):
    return
  t = time.perf_counter()
  _, key = jax.random.split(rng)
  complete = label_lib.policy_completer(
      ctx,
      policy,
      key,
      temperature=v.ms_temperature,
      batch_size=v.batch_size,
      group_size=v.ms_k,
  )
  traces["train"] = label_lib.math_shepherd(
      complete, traces["train"], v.ms_k, ctx.task.is_correct
  )
  steps_lib.write_jsonl(paths["train"], traces["train"])
  out["seconds"]["label"] = time.perf_counter() - t


def _reward_models(ctx, config, policy, traces, eval_set, shape, stages, out):
  """Stages ``orm``, ``prm_exact``, ``prm_ms``: each head trained on the
  traces with its labels and saved (what ``rl.prm_path`` points to);
  returns ({name: params}, {name: history})."""
  v = config.verifier
  models, histories = {}, {}
  for name in registry.HEADS:
    if name not in stages:
      continue
    kind = registry.VERIFIERS[name].kind
    lab = registry.VERIFIERS[name].labels
    lab = v.ms_label if lab == "ms" else lab
    t = time.perf_counter()
    usable = [
        tr
        for tr in traces["train"]
        if getattr(tr, lab) is not None and (kind == "orm" or tr.steps)
    ]
    if not usable:
      logging.warning(
          "%s: no train trace has %s step labels; skipped", name, lab
      )
      continue
    train_set = steps_lib.encode_traces(ctx.tok, usable, label=lab, **shape)
    models[name], histories[name] = verifier_fit.train_reward_model(
        ctx,
        policy,
        kind,
        train_set,
        eval_set,
        name=name,
        steps=v.rm_steps,
        batch_size=v.rm_batch_size,
        learning_rate=v.rm_learning_rate,
        seed=config.seed,
        loss=v.rm_loss,
        train_groups=verify_report.problems(usable),
        eval_groups=verify_report.problems(traces["eval"]),
    )
    checkpoint.save_params(
        registry.params_dir(ctx.workdir, name), models[name]
    )  # what rl.prm_path points to.
    out["seconds"][name] = time.perf_counter() - t
  return models, histories


def _genver(
    ctx, config, policy, traces, eval_set, shape, models, histories, out
) -> None:
  """Stage ``genver``: the policy's LM judges each step (SFT on exact step
  labels); saved beside the reward models."""
  usable = [tr for tr in traces["train"] if tr.exact and tr.steps]
  if not usable:
    logging.warning("genver: no train trace has exact step labels; skipped")
  else:
    t = time.perf_counter()
    train_set = steps_lib.encode_traces(ctx.tok, usable, label="exact", **shape)
    models["genver"], histories["genver"] = _train_genver(
        ctx, policy, train_set, eval_set, config.verifier, config.seed
    )
    checkpoint.save_params(
        registry.params_dir(ctx.workdir, "genver"), models["genver"]
    )
    out["seconds"]["genver"] = time.perf_counter() - t


def train_lm_verifier(config, ctx, workdir: str):
  """The ``lmv`` stage: SFT of a fresh LM on ``verifier.lm_examples`` gold
  solutions (``verifier.lm_steps`` steps, shaped by the nonzero
  ``verifier.lm_model`` fields) as a resumable run in ``<workdir>/lmv``. Returns
  ``((model, params), summary)``; the summary has the LM's own greedy
  pass@1 (a verifier that solves the task better than the policy is part
  of what it costs)."""
  v = config.verifier
  c = config_lib.derive(
      config,
      {
          "stages": "sft",
          "init.hf_path": "",
          "sft.num_examples": v.lm_examples,
          "sft.steps": v.lm_steps,
          "sft.learning_rate": v.lm_learning_rate,
          "sft.batch_size": v.lm_batch_size,
          "sft.warmup_steps": max(v.lm_steps // 50, 1),
          "sft.bare_share": 0.0,
          "sft.curate_pool": 0,
          **{f"model.{k}": x for k, x in v.lm_model.items() if x},
      },
  )
  lm_dir = os.path.join(workdir, "lmv")
  summary = pipeline.train_and_evaluate(c, lm_dir)
  lm_ctx = context.build_context(c, lm_dir)
  probe = "Compute 12+7*3-4.\n<think>\n12+21-4\n</think>\n\\boxed{29}"
  if lm_ctx.tok.encode(probe) != ctx.tok.encode(probe):
    raise ValueError(
        "the lmv verifier's tokenizer differs from the "
        "policy's: give both the same tokenizer settings"
    )
  params = jax.tree.map(
      jax.numpy.asarray, checkpoint.load_params(lm_dir, "sft")
  )
  return (lm_ctx.model, params), {
      "pass@1": summary["sft"]["pass@1"],
      "examples": v.lm_examples,
      "steps": v.lm_steps,
  }


def _train_genver(ctx, policy, train_set, eval_set, v, seed):
  """SFT of the policy's LM on step labels (``verifiers.generative``)."""
  query, yes, no = gv.answer_ids(ctx.tok)

  def arrays(sb):
    q = gv.query_batch(sb, query, ctx.tok.pad_id)
    return {"ids": q.ids, "valid": q.valid, "at": q.at, "labels": q.labels}

  tr, ev = arrays(train_set), arrays(eval_set)
  dummy = jnp.ones((1, tr["ids"].shape[1]), jnp.int32)
  init_fn = lambda k: ctx.model.init(k, dummy, dummy, dummy > 0)["params"]
  return verifier_fit.fit(
      ctx,
      "genver",
      init_fn,
      policy,
      functools.partial(gv.loss, ctx.model, yes, no),
      tr,
      ev,
      steps=v.rm_steps,
      batch_size=v.rm_batch_size,
      learning_rate=v.rm_learning_rate,
      seed=seed,
  )


def main(argv):
  del argv  # cli.run refuses extra arguments.
  print(verify_report.table(run(FLAGS.config, FLAGS.workdir)))


def define_flags() -> None:
  cli.define_flags("configs/verifier.py", "runs/verifier")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
