"""``train_and_evaluate(config, workdir)``: the stages of a run, in order.

Builds what every stage shares (mesh, tokenizer, task, policy module) once,
then runs ``config.stages`` (``pretrain``, ``sft``, ``rl``, ``rs``,
``distill``, ``budget``), each resuming from its own orbax checkpoints, and
writes ``summary.json`` with held-out pass@1 after each stage, and a report
(``report.md``, ``report.png``) across stages. Rerunning the same command on
the same workdir resumes at the first unfinished stage.

A finished stage's record keeps the config fields that define it
(``stage_definition``); a rerun whose fields differ is refused, naming
them, unless ``restart_from`` names the stage to retrain from (it and every
later stage lose their checkpoints, records and metric rows). So
``config.json`` (a distillation teacher is read from it) always describes
what produced the checkpoints. A finished stage whose last checkpoint is
unreadable runs again from its newest intact step.
"""

import collections
import contextlib
import dataclasses
import functools
import json
import os
import socket
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from reasoning_jax import config as config_lib
from reasoning_jax.data import datasets, prompts, tasks, tokenizer
from reasoning_jax.models import CausalLM, ModelConfig
from reasoning_jax.parallel import sharding
from reasoning_jax.sampling.sampler import make_sampler
from reasoning_jax.train import evaluate as evaluate_lib
from reasoning_jax.train import stats


@dataclasses.dataclass
class Context:
  """What every stage of one run shares."""
  config: ml_collections.ConfigDict
  workdir: str  # checkpoints (may be remote, e.g. gs://; all processes).
  mesh: jax.sharding.Mesh
  tok: tokenizer.Tokenizer
  task: tasks.Task
  model: CausalLM

  @property
  def logdir(self) -> str:
    """Where process 0 writes metrics, TensorBoard, reports and the
    tokenizer cache: the workdir, or ``runs/<name>`` when it is remote."""
    return local_dir(self.workdir)

  @property
  def rules(self):
    return self.config.logical_axis_rules

  @functools.cached_property
  def batch_sharding(self):
    return sharding.batch_sharding(self.mesh, self.rules)

  @functools.cached_property
  def param_shardings(self):
    """Shardings of the policy's parameters, from their logical axes."""
    return sharding.param_shardings(self.model, self.mesh, self.rules)

  def sampler(self, **kwargs):
    """``make_sampler`` for the policy, with this run's shardings."""
    return make_sampler(self.model,
                        max_new_tokens=self.config.data.max_new_tokens,
                        eos_id=self.tok.eos_id, pad_id=self.tok.pad_id,
                        mesh=self.mesh, rules=self.rules,
                        param_shardings=self.param_shardings, **kwargs)

  @functools.cached_property
  def greedy_sampler(self):
    return self.sampler(greedy=True)

  @property
  def fresh_train_index(self) -> int:
    """The first train index past the cold-start set (and its curation
    pool): RL, rejection sampling and distillation draw prompts from here."""
    return max(self.config.sft.num_examples, self.config.sft.curate_pool)

  @property
  def num_test(self) -> int:
    """``eval.num_problems``, or the test split's size when that is smaller
    (a dataset file; ``check_data`` says so when the run starts)."""
    n = self.config.eval.num_problems
    return min(n, self.task.size("test")) if hasattr(self.task, "size") else n

  @functools.cached_property
  def test_set(self) -> list[tasks.Example]:
    """The first ``num_test`` test problems, built once per run."""
    return [self.task.example("test", i) for i in range(self.num_test)]

  def evaluate(self, params, num_problems: int | None = None) -> dict:
    """Greedy pass@1 etc. on the first ``num_problems`` test problems (all
    ``num_test`` by default); see ``train.evaluate.evaluate``."""
    n = self.num_test if num_problems is None else min(num_problems,
                                                       self.num_test)
    return evaluate_lib.evaluate(
        self.greedy_sampler, params, self.tok, self.task, self.test_set[:n],
        jax.random.PRNGKey(0), max_prompt_len=self.config.data.max_prompt_len,
        batch_size=self.config.eval.batch_size,
        batch_sharding=self.batch_sharding)


def local_dir(workdir: str) -> str:
  """``workdir`` itself, or ``runs/<last part>`` for a remote (``x://``) one."""
  if "://" not in workdir:
    return workdir
  return os.path.join("runs", workdir.rstrip("/").rsplit("/", 1)[-1])


def build_context(config, workdir: str) -> Context:
  config_lib.validate(config)
  mesh = sharding.make_mesh(config.mesh)
  hf_path = config.init.hf_path
  model_cfg = ModelConfig(**config.model.to_dict())
  if hf_path:  # a pretrained checkpoint: its architecture and tokenizer.
    from reasoning_jax.models import hf  # pylint: disable=g-import-not-at-top
    m = config.model
    model_cfg = hf.model_config(
        hf.read_config(hf_path), dtype=m.dtype, param_dtype=m.param_dtype,
        remat=m.remat, attention=m.attention, precision=m.precision,
        decode_chunk=m.decode_chunk)
  corpus_tasks = {t for t in config.tokenizer.tasks.split(",") if t}
  if config.task.name not in datasets.NAMES:  # its own text is covered.
    corpus_tasks.add(config.task.name)
  tok = tokenizer.get_tokenizer(
      config.tokenizer.path or hf_path,
      config.tokenizer.cache_dir or os.path.join(local_dir(workdir),
                                                 "tokenizer"),
      sorted(corpus_tasks), seed=config.task.seed,
      vocab_size=config.tokenizer.vocab_size)
  if tok.vocab_size > model_cfg.vocab_size:
    raise config_lib.ConfigError(
        f"config.model.vocab_size={model_cfg.vocab_size}: smaller than "
        f"the tokenizer's {tok.vocab_size} pieces ({tok.path})")
  t = config.task
  extra = {} if t.name not in datasets.NAMES else dict(
      data_dir=t.data_dir, tfds_data_dir=t.tfds_data_dir,
      question_field=t.question_field, answer_field=t.answer_field,
      solution_field=t.solution_field)
  task = tasks.get_task(t.name, seed=t.seed, difficulty=t.difficulty,
                        **extra)
  if config.rl.consistency_weight and not hasattr(task, "step_is_wellformed"):
    raise config_lib.ConfigError(
        f"config.rl.consistency_weight={config.rl.consistency_weight}: task "
        f"{t.name!r} has no step syntax (step_is_wellformed)")
  p = config.prompt
  if (p.style, p.chat) != ("plain", "none"):
    task = prompts.PromptedTask(
        task, p.style, p.chat, tuple(prompts.exemplars(
            task, p.shots, t.seed)) if p.style == "few_shot_cot" else ())
  ctx = Context(config, workdir, mesh, tok, task, CausalLM(model_cfg))
  if hasattr(task, "size"):  # a dataset from files.
    check_data(ctx)
  else:  # a procedural task: its first prompts stand for the rest.
    _check_prompt_length(ctx, [(s, i, task.example(s, i))
                               for s in tasks.SPLITS for i in range(64)])
  return ctx


def _train_needs(config, fresh: int) -> dict[str, int]:
  """Train records each stage reads first-to-last (exclusive end), at
  least: the cold-start set, then fresh prompts for RL / rejection
  sampling / distillation (at one draw per prompt)."""
  c = config
  fresh_use = {"rl": c.rl.steps * c.rl.num_prompts, "rs": c.rs.problems,
               "distill": c.distill.problems}
  out = {}
  for s in (s for s in c.stages.split(",") if s):
    if s == "sft":
      out["sft"] = fresh
    elif s == "pretrain":
      out["pretrain"] = c.pretrain.num_examples
    elif s in fresh_use:
      out[s] = fresh + fresh_use[s]
  return out


def check_data(ctx: Context) -> None:
  """Refuses a dataset the run would read wrongly, before anything compiles.

  - train records: the cold-start set is ``[0, fresh_train_index)`` and
    fresh prompts (RL, rs, distill) come after it, never from it; a stage
    that needs more records than the file holds is an error naming the
    counts (records are never reused by wrapping around);
  - test records: ``eval.num_problems`` above the file's size evaluates
    every record, with a warning;
  - text: every prompt fits ``data.max_prompt_len`` tokens, and no
    character of the data encodes to the tokenizer's unknown piece (a
    tokenizer without byte fallback turns unseen characters into ``<unk>``
    and merges runs of them, so a long question could become one token).
  """
  config, task, tok = ctx.config, ctx.task, ctx.tok
  n_train, n_test = task.size("train"), task.size("test")
  for stage, need in _train_needs(config, ctx.fresh_train_index).items():
    if need > n_train:
      raise config_lib.ConfigError(
          f"stage {stage} needs train records [0, {need}) (the cold start "
          f"is the first {ctx.fresh_train_index}: max(sft.num_examples, "
          f"sft.curate_pool); fresh prompts follow it) but the train file "
          f"has {n_train}: lower those counts or rl.steps x rl.num_prompts "
          f"/ rs.problems / distill.problems")
  if config.eval.num_problems > n_test:
    logging.warning("eval.num_problems=%d but the test file has %d records: "
                    "evaluating all %d", config.eval.num_problems, n_test,
                    n_test)
  named = [(s, i, task.example(s, i))
           for s, n in (("train", n_train), ("test", n_test)) for i in range(n)]
  unknown, total = unknown_characters(
      tok, (t for _, _, ex in named for t in (ex.prompt, ex.solution)))
  if unknown:
    shown = ", ".join(repr(ch) for ch, _ in sorted(
        unknown.items(), key=lambda kv: -kv[1])[:8])
    share = sum(unknown.values()) / max(total, 1)
    raise datasets.DataError(
        f"task {task.name}: {len(unknown)} distinct characters "
        f"({share:.1%} of the text) encode to the tokenizer's unknown piece "
        f"({shown}): set tokenizer.path to a tokenizer that covers the data "
        f"(one with byte fallback, or a tokenizer.json); the built-in one "
        f"({tok.path}) knows only the text of tokenizer.tasks")
  _check_prompt_length(ctx, named)


def _check_prompt_length(ctx, named) -> None:
  """``data.max_prompt_len`` holds the prompt of every ``(split, index,
  example)`` of ``named``."""
  longest, where = 0, None
  for split, i, ex in named:
    n = 1 + len(ctx.tok.encode(ex.prompt + "\n"))  # bos, as encode_prompts.
    if n > longest:
      longest, where = n, (split, i)
  if longest > ctx.config.data.max_prompt_len:
    raise config_lib.ConfigError(
        f"config.data.max_prompt_len={ctx.config.data.max_prompt_len}: the "
        f"longest prompt ({where[0]} record {where[1]}) has {longest} tokens")


def unknown_characters(tok, texts) -> tuple[dict[str, int], int]:
  """Characters of ``texts`` that ``tok`` encodes to its unknown piece, with
  their counts, and the number of characters in all."""
  unknown, total = collections.Counter(), 0
  for t in texts:
    total += len(t)
    for part in tok.unknown_text(t):
      unknown.update(part)
  return dict(unknown), total


def initial_params(ctx):
  """The first stage's starting parameters: the ``init.hf_path`` checkpoint
  streamed into the policy's shardings, or None (random init)."""
  if not ctx.config.init.hf_path:
    return None
  from reasoning_jax.models import hf  # pylint: disable=g-import-not-at-top
  params, _ = hf.load_params(ctx.config.init.hf_path, ctx.model.cfg,
                             ctx.param_shardings)
  return params


def stage_names(stages: list[str], algorithm: str) -> list[str]:
  """Checkpoint names of the stages: ``sft``, ``rl_<algorithm>``, ``rs``;
  a repeated stage gets ``_2``, ``_3``, ..."""
  seen, out = {}, []
  for s in stages:
    base = f"rl_{algorithm}" if s == "rl" else s
    seen[base] = seen.get(base, 0) + 1
    out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
  return out


def train_and_evaluate_seeds(config: ml_collections.ConfigDict, workdir: str,
                             seeds: list[int], restart_from: str = "") -> dict:
  """``train_and_evaluate`` once per seed (``config.seed``; the task and
  its test problems stay the same) in ``<workdir>/seed_<s>``, then
  ``seeds.json`` / ``seeds.md`` / ``seeds.png`` in ``workdir`` with each
  seed's pass@1 and paired gains, their mean and spread. Each seed resumes
  and skips finished stages like a single run. Returns the aggregate."""
  from reasoning_jax.train import report  # pylint: disable=g-import-not-at-top
  if not seeds or len(set(seeds)) != len(seeds):
    raise config_lib.ConfigError(f"--seeds={seeds}: give distinct seeds")
  summaries = {}
  for s in seeds:
    c = ml_collections.ConfigDict(config.to_dict())
    c.seed = s
    summaries[s] = train_and_evaluate(c, os.path.join(workdir, f"seed_{s}"),
                                      restart_from)
  if jax.process_index() != 0:
    return {}
  out = local_dir(workdir)
  os.makedirs(out, exist_ok=True)
  return report.write_seeds_report(out, summaries)


class WorkdirBusy(RuntimeError):
  """Another live run holds the workdir."""


@contextlib.contextmanager
def workdir_lock(logdir: str):
  """Holds ``<logdir>/LOCK`` (pid and host) for the duration of a run.

  A second run on the same workdir raises ``WorkdirBusy`` naming the
  holder, before it touches anything: two runs would interleave metrics,
  exceed ``checkpoint.keep`` and crash in orbax. A lock left by a killed
  run (its pid is gone on this host) is taken over.
  """
  os.makedirs(logdir, exist_ok=True)
  path = os.path.join(logdir, "LOCK")
  me = {"pid": os.getpid(), "host": socket.gethostname()}
  while True:
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
      try:
        with open(path) as f:
          holder = json.load(f)
      except (OSError, ValueError):
        holder = {}
      if holder.get("host") == me["host"] and not _alive(holder.get("pid")):
        logging.warning("taking over %s from pid %s, which is gone", path,
                        holder.get("pid"))
        os.remove(path)
        continue
      raise WorkdirBusy(
          f"{logdir} is in use by pid {holder.get('pid')} on "
          f"{holder.get('host')}: wait for that run, or delete {path} if it "
          "is gone") from None
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    break
  try:
    yield
  finally:
    try:
      with open(path) as f:
        if json.load(f) == me:
          os.remove(path)
    except (OSError, ValueError):
      pass


def _alive(pid) -> bool:
  if not isinstance(pid, int) or pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def write_json_atomic(path: str, obj) -> None:
  """``obj`` as JSON at ``path``, written to a temporary file first and
  renamed: a crash mid-write leaves the old file or none, never half of
  one (a finished stage's record is what a rerun trusts)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp.{os.getpid()}"
  try:
    with open(tmp, "w") as f:
      json.dump(obj, f)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


# Config sections every stage's result depends on, and each stage's own
# (the stages that fine-tune with ``run_sft`` also read ``sft``'s optimizer).
_COMMON = ("seed", "task", "prompt", "tokenizer", "model", "data", "init")
_OWN = {"pretrain": ("pretrain", "sft"), "sft": ("sft",), "rl": ("rl",),
        "rs": ("rs", "sft"), "distill": ("distill", "sft"),
        "budget": ("budget",)}
# Fields that change how fast a stage runs or how often it reports, not
# what it produces.
_NOT_DEFINING = ("model.decode_chunk", "model.remat", "model.attention",
                 "rl.eval_every")


def _flat(d, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(_flat(v, key + "."))
    else:
      out[key] = list(v) if isinstance(v, tuple) else v
  return out


def stage_definition(config, stages: list[str], i: int) -> dict:
  """The config fields that define what stage ``i`` produced: the common
  sections, the stage list up to it, and the own sections of it and every
  stage before it (their output is its input). Flat ``{"sft.steps": 6}``."""
  d = config.to_dict()
  keep = {"stages": stages[:i + 1]}
  for sec in _COMMON + tuple(x for s in stages[:i + 1] for x in _OWN[s]):
    keep.update(_flat({sec: d[sec]}) if isinstance(d[sec], dict)
                else {sec: d[sec]})
  return {k: v for k, v in sorted(keep.items()) if k not in _NOT_DEFINING}


def _differences(saved: dict, now: dict) -> list[str]:
  keys = sorted(set(saved) | set(now))
  return [f"{k}={saved.get(k, '<unset>')!r} -> {now.get(k, '<unset>')!r}"
          for k in keys if saved.get(k, "<unset>") != now.get(k, "<unset>")]


def _remove_stages(ctx, names: list[str]) -> None:
  """Deletes the checkpoints, records, metric rows and TensorBoard runs of
  ``names`` (``restart_from``)."""
  from reasoning_jax.train import metrics  # pylint: disable=g-import-not-at-top
  from etils import epath  # pylint: disable=g-import-not-at-top
  if jax.process_index() == 0:
    for name in names:
      for d in (epath.Path(ctx.workdir) / "checkpoints" / name,
                epath.Path(ctx.logdir) / "tb" / name):
        if d.exists():
          d.rmtree()
      record = os.path.join(ctx.logdir, "stages", f"{name}.json")
      if os.path.exists(record):
        os.remove(record)
      metrics.drop_rows_after(os.path.join(ctx.logdir, "metrics.jsonl"),
                              name, -1)
      logging.info("restart: removed stage %s", name)
  from reasoning_jax.parallel import multihost  # pylint: disable=g-import-not-at-top
  multihost.barrier("restart_from")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       restart_from: str = ""):
  """Runs every stage of ``config.stages``; returns the summary dict.

  A finished stage leaves ``<workdir>/stages/<name>.json`` (its result and
  ``stage_definition``); a rerun skips it, taking its parameters from its
  last checkpoint, if the definition is unchanged, and refuses otherwise.
  ``restart_from`` (a stage name, e.g. ``sft`` or ``rl_grpo``) retrains that
  stage and every later one from scratch. The run holds the workdir
  (``workdir_lock``): a second one refuses at once.
  """
  t0 = time.perf_counter()
  ctx = build_context(config, workdir)
  with (workdir_lock(ctx.logdir) if jax.process_index() == 0
        else contextlib.nullcontext()):
    return _run_stages(config, ctx, t0, restart_from)


def _read_record(path: str) -> dict | None:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _check_finished(config, ctx, stages, names, restart_from: str):
  """Applies ``restart_from``, then refuses a rerun whose config differs
  from a finished stage's definition (naming the fields)."""
  if restart_from:
    if restart_from not in names:
      raise config_lib.ConfigError(
          f"--restart_from={restart_from}: not a stage of this run "
          f"({', '.join(names)})")
    _remove_stages(ctx, names[names.index(restart_from):])
  for i, name in enumerate(names):
    record = _read_record(os.path.join(ctx.logdir, "stages", f"{name}.json"))
    if record is None or "definition" not in record:
      continue
    diff = _differences(record["definition"],
                        stage_definition(config, stages, i))
    if diff:
      raise config_lib.ConfigError(
          f"stage {name} of {ctx.logdir} finished with another config "
          f"({'; '.join(diff[:4])}{'; ...' if len(diff) > 4 else ''}): "
          f"rerun with --restart_from={name} to retrain it and the stages "
          f"after it, or use a new workdir")


def _run_stages(config, ctx, t0, restart_from: str = ""):
  """The stage loop of ``train_and_evaluate``, under the workdir lock."""
  from reasoning_jax.train import budget, checkpoint, distill, pretrain, rejection, rl, report, sft  # pylint: disable=g-import-not-at-top,line-too-long
  stage_fns = {"pretrain": pretrain.run_pretrain, "sft": sft.run_sft,
               "rl": rl.run_rl, "rs": rejection.run_rejection,
               "distill": distill.run_distill, "budget": budget.run_budget}
  stages = [s for s in config.stages.split(",") if s]
  names = stage_names(stages, config.rl.algorithm)
  _check_finished(config, ctx, stages, names, restart_from)
  if jax.process_index() == 0:
    os.makedirs(ctx.logdir, exist_ok=True)
    with open(os.path.join(ctx.logdir, "config.json"), "w") as f:
      f.write(config.to_json(indent=2))
  summary, params, prev = {}, initial_params(ctx), None
  for i, (stage, name) in enumerate(zip(stages, names)):
    record = os.path.join(ctx.logdir, "stages", f"{name}.json")
    result = _read_record(record)
    if result is not None:
      try:
        params = jax.tree.map(jnp.asarray,
                              checkpoint.load_params(ctx.workdir, name))
        logging.info("stage %s finished earlier: skipped", name)
      except checkpoint.CheckpointError as e:
        logging.warning("stage %s finished but %s: running it again from "
                        "its newest intact step", name, e)
        result = None
    if result is None:
      params, result = stage_fns[stage](ctx, params, stage=name)
      result["correct"] = np.asarray(result["correct"]).tolist()
      result["pass@1_ci95"] = list(stats.bootstrap_ci(result["correct"]))
      if prev is not None:  # same problems, same order: a paired comparison.
        result["paired_vs_previous"] = stats.paired_delta(prev,
                                                          result["correct"])
      result["definition"] = stage_definition(config, stages, i)
      if jax.process_index() == 0:
        write_json_atomic(record, result)
    prev = result.pop("correct")
    result.pop("definition", None)
    summary[name] = result
    logging.info("stage %s done: %s", name, result)
  summary["wall_seconds"] = time.perf_counter() - t0
  if jax.process_index() == 0:
    with open(os.path.join(ctx.logdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
    report.write_report(ctx.logdir, summary)
  return summary
