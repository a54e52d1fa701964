"""The config schema (defaults for every field) and its validation.

Every ``configs/*.py`` starts from :func:`base_config` and changes values, so
the set of fields is defined once, here. :func:`validate` runs before
anything is built or compiled and names the offending field.
"""

import math

import ml_collections

DTYPES = ("float32", "bfloat16", "float16")
PRECISIONS = ("auto", "default", "high", "highest")


def base_config() -> ml_collections.ConfigDict:
  """All fields with their defaults (a small arith cold-start SFT run)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  # Comma-separated, run in order: pretrain (a base model), sft, rl, rs
  # (rejection-sampling SFT), distill (SFT on a teacher's verified traces),
  # budget (evaluation under s1 budget forcing). A stage's checkpoint is its
  # name (rl: rl_<algorithm>), with _2, _3 ... on repeats; a rerun skips the
  # stages that finished.
  c.stages = "sft"

  # Datasets (gsm8k, math, jsonl) read data_dir/{train,test}.jsonl; gsm8k
  # with tfds_data_dir goes through tensorflow-datasets (data_dir as the
  # manual directory); jsonl names its fields.
  c.task = dict(name="arith", difficulty=2, seed=0, data_dir="",
                tfds_data_dir="", question_field="question",
                answer_field="answer", solution_field="")
  # Empty path: train a SentencePiece model on the corpus of `tasks` (and of
  # task.name when it is a built-in procedural task) and cache it.
  # Prompt style (plain | zero_shot_cot | few_shot_cot with `shots`
  # exemplars from the train split) and chat template (none | chatml |
  # llama3 | gemma), applied to every prompt of SFT, RL and evaluation.
  c.prompt = dict(style="plain", shots=4, chat="none")
  c.tokenizer = dict(path="", tasks="arith,countdown", vocab_size=256,
                     cache_dir="")
  c.model = dict(vocab_size=256, d_model=128, n_layers=4, n_heads=4,
                 n_kv_heads=2, head_dim=32, d_ff=352, rope_theta=10_000.0,
                 rms_eps=1e-6, qkv_bias=False, tie_embeddings=False,
                 dtype="float32", param_dtype="float32", init_std=0.02,
                 remat=False, attention="einsum", rope_scaling=(),
                 norm_offset=0.0, mlp_activation="silu", embed_scale=False,
                 precision="auto", decode_chunk=1)
  c.data = dict(max_prompt_len=32, max_new_tokens=64)
  # Start from a Hugging Face checkpoint directory (config.json, safetensors,
  # tokenizer.json): its architecture replaces config.model's shape fields
  # (dtype, param_dtype, remat, attention, precision and decode_chunk are
  # kept) and its tokenizer is used unless tokenizer.path is set.
  c.init = dict(hf_path="")

  # Base-model pretraining (stage pretrain, for R1-Zero): documents of
  # train problems followed by a bare answer, or (share `think`) a worked
  # solution, of which a share `reflect` has a wrong step, "wait" and the
  # fix; loss on every token. See train/pretrain.py.
  c.pretrain = dict(num_examples=20000, steps=600, learning_rate=3e-3,
                    think=0.5, reflect=0.2)
  # Cold start: the first num_examples train problems' worked solutions, a
  # fixed step count (num_examples = steps * batch_size: a stream, each
  # problem seen once). curate_pool > 0: the num_examples are chosen
  # s1-style (quality, difficulty, diversity; data/curate.py) from that
  # many. bare_share > 0: the teacher states the bare answer, no steps, on
  # that share of the problems of at most bare_max_steps steps
  # (data/cold_start.py).
  c.sft = dict(num_examples=1000, batch_size=64, steps=300,
               learning_rate=3e-3, warmup_steps=30, weight_decay=0.01,
               b1=0.9, b2=0.95, max_grad_norm=1.0, schedule="cosine",
               curate_pool=0, bare_share=0.0, bare_max_steps=0)

  # RL from the previous stage's policy. algorithm: grpo | ppo.
  c.rl = dict(
      algorithm="grpo", steps=150, num_prompts=16, group_size=8,
      temperature=0.7, top_k=0, top_p=1.0,
      num_updates=1, minibatch_size=128,  # passes and sequences per step.
      learning_rate=3e-5, critic_lr=1e-4, warmup_steps=0, weight_decay=0.0,
      b1=0.9, b2=0.999, max_grad_norm=1.0,
      clip_eps=0.2, clip_eps_high=0.0,  # 0: same as clip_eps (DAPO: 0.28).
      kl_beta=0.04,
      # grpo | grpo_skip | grpo_floor | dr_grpo (no std scaling).
      advantage="grpo", std_floor=0.1,
      loss_reduction="token_mean",  # token_mean | seq_mean | constant.
      # consistency: R1's language-consistency reward, here the share of
      # thinking lines in the task's step syntax (rewards.consistency_reward).
      accuracy_weight=1.0, format_weight=0.0, consistency_weight=0.0,
      overlong_buffer=0, mask_truncated=False,  # DAPO overlong shaping.
      dynamic_sampling=False, max_draws=4,  # DAPO dynamic sampling.
      gamma=1.0, lam=0.95, value_coef=0.5, value_clip=0.2,  # PPO.
      entropy_coef=0.0, whiten_advantages=True,
      # Process rewards from a PRM saved by reasoning_jax.verify ("" = none):
      # "sequence" adds weight x aggregate(step scores) to each sequence's
      # reward; "step" adds per-step rewards (GRPO: group-normalised, summed
      # from each token's step to the end; PPO: at the boundaries, into GAE).
      prm_path="", prm_weight=0.0, prm_mode="sequence", prm_aggregate="min",
      prm_max_steps=8,
      eval_every=50)
  # Rejection-sampling SFT (stage rs): samples per prompt on `problems`
  # train prompts past the cold-start set, accepted by the rule verifier,
  # deduplicated, plus a `mix` share of reference solutions; SFT steps, lr.
  c.rs = dict(problems=512, samples=8, temperature=0.7, mix=0.25, steps=300,
              learning_rate=3e-4)
  # Distillation (stage distill): the teacher run's workdir (its config.json
  # and checkpoint `teacher_stage`, "" = its last stage) samples `samples`
  # per prompt on `problems` train prompts; the verified, deduplicated
  # traces train this run's model by SFT (`steps`, `learning_rate`).
  c.distill = dict(teacher_workdir="", teacher_stage="", problems=1024,
                   samples=4, temperature=0.7, steps=600, learning_rate=3e-3)
  # Stage budget: held-out greedy pass@1 with s1 budget forcing at each
  # minimum and maximum thinking budget (comma-separated token counts;
  # tts.wait_text replaces an early </think>).
  c.budget = dict(min_think="", max_think="")
  c.eval = dict(num_problems=1024, batch_size=256, every=100,
                periodic_problems=256)
  c.checkpoint = dict(every=100, keep=2)
  # reasoning_jax.bench: repetitions, workload prompt seed, device peak FLOP/s
  # (0: measure a matmul), memory bandwidth in bytes/s (0: measure a copy),
  # algorithms, rollout batch (0: P * G).
  c.bench = dict(warmup_reps=1, timed_reps=7, prompt_seed=1234,
                 peak_flops=0.0, peak_bandwidth=0.0, algorithms="grpo,ppo",
                 rollout_batch=0, notes="")
  # reasoning_jax.verify: traces from the SFT policy (or the one in
  # policy_workdir), Math-Shepherd labels (K continuations per step prefix),
  # then ORM / PRM training and their evaluation; see configs/verifier.py.
  c.verifier = dict(
      stages="traces,label,orm,prm_exact,prm_ms,genver,lmv,eval",
      policy_workdir="",
      train_problems=512, eval_problems=256, samples_per_problem=4,
      temperature=1.0, ms_k=4, ms_temperature=1.0, batch_size=256,
      ms_label="hard", max_steps=8, rm_steps=150, rm_batch_size=32,
      rm_learning_rate=1e-4,
      # ORM/PRM objective: bce, or bce+pairwise (plus a within-problem
      # Bradley-Terry term on each trace's outcome logit).
      rm_loss="bce",
      # Likelihood verifier (stage lmv): an LM trained from scratch on
      # lm_examples fresh gold solutions in lm_steps steps, shaped like the
      # policy but for the nonzero lm_model fields.
      lm_examples=96_000, lm_steps=1500, lm_learning_rate=3e-3,
      lm_batch_size=64, lm_model=dict(d_model=0, n_layers=0, n_heads=0,
                                      n_kv_heads=0, head_dim=0, d_ff=0))
  # reasoning_jax.tts: the policy checkpoint (workdir + stage), the
  # verifiers saved by reasoning_jax.verify, problems, samples per problem.
  c.tts = dict(policy_workdir="runs/default", policy_stage="rl_grpo",
               verifier_workdir="runs/verifier", num_problems=256, n_max=64,
               temperature=0.7, batch_size=256,
               # s1 budget forcing on greedy decoding (0: off): at least
               # budget_min thinking tokens (an early </think> becomes
               # wait_text), at most budget_max.
               budget_min=0, budget_max=0, wait_text="\n",
               # Step beam search (width 0: off): beams kept, next steps
               # sampled per beam, rounds at most (also ToT's), the step
               # scorer (a PRM's last-step score: prm_exact_last).
               beam_width=0, beam_k=4, beam_max_steps=8,
               beam_verifier="prm_exact_last",
               # Tree of Thoughts (breadth 0: off): states kept per level,
               # thoughts per state, the evaluator (a verifier name: orm,
               # prm_exact_min, prm_ms_prod, genver_min, ...).
               tot_breadth=0, tot_k=4, tot_verifier="genver_min",
               # MCTS (simulations 0: off): PUCT constant, children per
               # expansion, the value verifier; on mcts_label_problems train
               # problems, Q-values from mcts_rollouts rule-scored rollouts
               # per node become step labels (mcts_labels.jsonl).
               mcts_simulations=0, mcts_k=4, c_puct=1.0,
               mcts_verifier="prm_exact_min", mcts_label_problems=0,
               mcts_rollouts=4,
               # Sequential revision (revision_n 0: off): chains of up to
               # revision_n attempts by a revision policy fine-tuned on
               # revision_per_problem (wrong -> correct) pairs per problem
               # from revision_samples samples of revision_problems train
               # problems, revision_steps SFT steps at revision_lr.
               revision_n=0, revision_problems=512, revision_samples=8,
               revision_per_problem=2, revision_steps=200,
               revision_lr=3e-4,
               # Compute-optimal choice: difficulty from the agreement of
               # the first estimate_samples samples.
               estimate_samples=4)
  c.log_every = 20

  c.mesh = dict(data=-1, fsdp=1, tensor=1)
  c.logical_axis_rules = (
      ("batch", ("data", "fsdp")),
      ("vocab", "tensor"),
      ("embed", "fsdp"),
      ("heads", "tensor"),
      ("kv_heads", "tensor"),
      ("head_dim", None),
      ("mlp", "tensor"),
  )
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks ``c`` in place to a seconds-long run (the configs' ``smoke``
  variant, for tests): a tiny model, a few steps of every stage."""
  c.model.update(d_model=32, n_layers=2, n_heads=2, n_kv_heads=1,
                 head_dim=16, d_ff=64)
  c.data.max_new_tokens = 32
  c.pretrain.update(num_examples=64, steps=6)
  c.sft.update(num_examples=64, batch_size=16, steps=6, warmup_steps=2,
               curate_pool=min(c.sft.curate_pool, 128))
  # A random policy never answers right; DAPO's overlong penalty gives its
  # groups a reward spread (length varies), so RL's updates carry signal.
  c.rl.update(steps=4, num_prompts=4, group_size=4, minibatch_size=8,
              num_updates=2, eval_every=2, overlong_buffer=16,
              learning_rate=1e-3)
  c.rs.update(problems=8, samples=4, steps=4)
  c.distill.update(problems=8, samples=4, steps=4)
  c.eval.update(num_problems=16, batch_size=16, every=4,
                periodic_problems=16)
  c.checkpoint.every = 2
  c.log_every = 2
  return c


class ConfigError(ValueError):
  """A config value is invalid; the message names the field."""


def _check(ok: bool, field: str, msg: str, value):
  if not ok:
    raise ConfigError(f"config.{field}={value!r}: {msg}")


def _finite(x) -> bool:
  return isinstance(x, (int, float)) and math.isfinite(x)


def _optimizer(section, name: str, lrs=("learning_rate",)) -> None:
  """AdamW fields: finite learning rates > 0, warmup >= 0, moments in
  [0, 1), weight decay and clipping norm >= 0 (a b2 > 1 gives NaN updates
  that the non-finite guard would then skip at every step)."""
  for f in lrs:
    _check(_finite(section[f]) and section[f] > 0, f"{name}.{f}",
           "must be a finite number > 0", section[f])
  _check(isinstance(section.warmup_steps, int) and section.warmup_steps >= 0,
         f"{name}.warmup_steps", "must be an integer >= 0",
         section.warmup_steps)
  for f in ("b1", "b2"):
    _check(_finite(section[f]) and 0 <= section[f] < 1, f"{name}.{f}",
           "must be in [0, 1)", section[f])
  for f in ("weight_decay", "max_grad_norm"):
    _check(_finite(section[f]) and section[f] >= 0, f"{name}.{f}",
           "must be a finite number >= 0", section[f])


def _positive_ints(section, name: str, fields) -> None:
  """Each of ``fields`` of ``config.<name>`` is a positive integer."""
  for f in fields:
    _check(isinstance(section[f], int) and section[f] > 0, f"{name}.{f}",
           "must be a positive integer", section[f])


def _check_fields(config, schema, prefix=""):
  for key in config.keys():
    if key not in schema:
      raise ConfigError(f"config.{prefix}{key}: unknown field (known: "
                        f"{sorted(schema.keys())})")
    if isinstance(schema[key], ml_collections.ConfigDict):
      _check_fields(config[key], schema[key], f"{prefix}{key}.")


STAGES = ("pretrain", "sft", "rl", "rs", "distill", "budget")
VERIFIER_STAGES = ("traces", "label", "orm", "prm_exact", "prm_ms", "genver",
                   "lmv", "eval")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field. Compiles nothing.

  Unknown fields first, then each section next to its own checks."""
  _check_fields(config, base_config())
  for check in (_validate_stages, _validate_task, _validate_model,
                _validate_sft, _validate_pretrain, _validate_rl,
                _validate_rs, _validate_distill, _validate_budget,
                _validate_verifier, _validate_tts, _validate_run):
    check(config)


def _validate_stages(config) -> None:
  """Stage names."""
  stages = [s for s in config.stages.split(",") if s]
  for s in stages:
    _check(s in STAGES, "stages", f"unknown stage {s!r}; known: {STAGES}",
           config.stages)


def _validate_pretrain(config) -> None:
  """Base-model pretraining."""
  p = config.pretrain
  _positive_ints(p, "pretrain", ("num_examples", "steps"))
  _check(p.learning_rate > 0, "pretrain.learning_rate", "must be > 0",
         p.learning_rate)
  for f in ("think", "reflect"):
    _check(0 <= p[f] <= 1, f"pretrain.{f}", "must be in [0, 1]", p[f])


def _validate_distill(config) -> None:
  """Distillation from a teacher run."""
  stages = [s for s in config.stages.split(",") if s]
  d = config.distill
  _check("distill" not in stages or bool(d.teacher_workdir),
         "distill.teacher_workdir", "must name the teacher run's workdir "
         "for stage distill", d.teacher_workdir)
  _positive_ints(d, "distill", ("problems", "samples", "steps"))
  _check(d.samples <= config.eval.batch_size, "distill.samples",
         f"must be <= eval.batch_size={config.eval.batch_size}", d.samples)
  for f in ("temperature", "learning_rate"):
    _check(d[f] > 0, f"distill.{f}", "must be > 0", d[f])


def _validate_budget(config) -> None:
  """s1 budget forcing (stage budget)."""
  for f in ("min_think", "max_think"):
    v = config.budget[f]
    _check(isinstance(v, str) and all(
        x.strip().isdigit() and int(x) > 0 for x in v.split(",") if x.strip()),
           f"budget.{f}", "must be comma-separated positive token counts",
           v)
  _check(bool(config.tts.wait_text) or not config.budget.min_think,
         "tts.wait_text", "must be non-empty for budget.min_think",
         config.tts.wait_text)


def _validate_rs(config) -> None:
  """Rejection-sampling SFT."""
  r = config.rs
  _positive_ints(r, "rs", ("problems", "samples", "steps"))
  _check(r.samples <= config.eval.batch_size, "rs.samples",
         f"must be <= eval.batch_size={config.eval.batch_size}", r.samples)
  for f in ("temperature", "learning_rate"):
    _check(r[f] > 0, f"rs.{f}", "must be > 0", r[f])
  _check(r.mix >= 0, "rs.mix", "must be >= 0", r.mix)


def _validate_verifier(config) -> None:
  """reasoning_jax.verify."""
  v = config.verifier
  for s in [s for s in v.stages.split(",") if s]:
    _check(s in VERIFIER_STAGES, "verifier.stages",
           f"unknown stage {s!r}; known: {VERIFIER_STAGES}", v.stages)
  _positive_ints(v, "verifier", (
      "train_problems", "eval_problems", "samples_per_problem", "ms_k",
      "batch_size", "max_steps", "rm_steps", "rm_batch_size"))
  for f in ("samples_per_problem", "ms_k"):
    _check(v[f] <= v.batch_size, f"verifier.{f}",
           f"must be <= verifier.batch_size={v.batch_size}", v[f])
  _check(v.rm_loss in ("bce", "bce+pairwise"), "verifier.rm_loss",
         "must be bce or bce+pairwise", v.rm_loss)
  _check(v.ms_label in ("soft", "hard"), "verifier.ms_label",
         "must be soft or hard", v.ms_label)
  for f in ("temperature", "ms_temperature", "rm_learning_rate",
            "lm_learning_rate"):
    _check(v[f] > 0, f"verifier.{f}", "must be > 0", v[f])
  _positive_ints(v, "verifier", ("lm_examples", "lm_steps", "lm_batch_size"))
  for f, x in v.lm_model.items():
    _check(isinstance(x, int) and x >= 0, f"verifier.lm_model.{f}",
           "must be an integer >= 0 (0: the policy's)", x)


def _validate_tts(config) -> None:
  """reasoning_jax.tts."""
  t = config.tts
  _positive_ints(t, "tts", ("num_problems", "n_max", "batch_size"))
  _check(t.n_max <= t.batch_size, "tts.n_max",
         f"must be <= tts.batch_size={t.batch_size}", t.n_max)
  _check(t.temperature > 0, "tts.temperature", "must be > 0", t.temperature)
  for f in ("budget_min", "budget_max", "beam_width"):
    _check(isinstance(t[f], int) and t[f] >= 0, f"tts.{f}",
           "must be an integer >= 0", t[f])
  _positive_ints(t, "tts", (
      "beam_k", "beam_max_steps", "tot_k", "mcts_k", "mcts_rollouts",
      "revision_problems", "revision_samples", "revision_per_problem",
      "revision_steps", "estimate_samples"))
  for f in ("tot_breadth", "mcts_simulations", "mcts_label_problems",
            "revision_n"):
    _check(isinstance(t[f], int) and t[f] >= 0, f"tts.{f}",
           "must be an integer >= 0", t[f])
  for f in ("c_puct", "revision_lr"):
    _check(t[f] > 0, f"tts.{f}", "must be > 0", t[f])
  for f in ("beam_verifier", "tot_verifier", "mcts_verifier"):
    _check(t[f] == "orm" or t[f].rsplit("_", 1)[-1] in
           ("min", "prod", "mean", "last") and t[f].rsplit("_", 1)[0] in
           ("prm_exact", "prm_ms", "genver", "lmv", "lmv_steps"), f"tts.{f}",
           "must be orm, prm_exact_<how>, prm_ms_<how>, genver_<how>, "
           "lmv_<how> or lmv_steps_<how> (how: min|prod|mean|last)", t[f])
  for f in ("beam_k", "tot_k", "mcts_k", "mcts_rollouts",
            "revision_samples"):
    _check(t[f] <= t.batch_size, f"tts.{f}",
           f"must be <= tts.batch_size={t.batch_size}", t[f])
  _check(t.estimate_samples <= t.n_max, "tts.estimate_samples",
         f"must be <= tts.n_max={t.n_max}", t.estimate_samples)
  _check(bool(t.wait_text) or not t.budget_min, "tts.wait_text",
         "must be non-empty when tts.budget_min > 0", t.wait_text)


def _validate_task(config) -> None:
  """The task and its prompts."""
  from reasoning_jax.data import tasks  # pylint: disable=g-import-not-at-top
  _check(config.task.name in tasks.task_names(), "task.name",
         f"unknown task; known: {tasks.task_names()}", config.task.name)
  _check(config.task.name not in ("gsm8k", "math", "jsonl")
         or bool(config.task.data_dir), "task.data_dir",
         f"must name the directory with train.jsonl and test.jsonl for "
         f"task {config.task.name!r}", config.task.data_dir)
  from reasoning_jax.data import prompts  # pylint: disable=g-import-not-at-top
  _check(config.prompt.style in prompts.STYLES, "prompt.style",
         f"must be one of {prompts.STYLES}", config.prompt.style)
  _check(config.prompt.chat in prompts.CHAT, "prompt.chat",
         f"must be one of {sorted(prompts.CHAT)}", config.prompt.chat)
  _check(isinstance(config.prompt.shots, int) and config.prompt.shots >= 0,
         "prompt.shots", "must be an integer >= 0", config.prompt.shots)
  _check(1 <= config.task.difficulty <= 5, "task.difficulty",
         "must be in 1..5", config.task.difficulty)


def _validate_model(config) -> None:
  """The policy architecture."""
  m = config.model
  _positive_ints(m, "model", ("vocab_size", "d_model", "n_layers", "n_heads",
                              "n_kv_heads", "head_dim", "d_ff"))
  _check(m.n_heads % m.n_kv_heads == 0, "model.n_kv_heads",
         f"must divide model.n_heads={m.n_heads}", m.n_kv_heads)
  _check(m.head_dim % 2 == 0, "model.head_dim", "must be even (RoPE pairs)",
         m.head_dim)
  _check(m.rope_theta > 0, "model.rope_theta", "must be > 0", m.rope_theta)
  _check(m.dtype in DTYPES, "model.dtype", f"must be one of {DTYPES}",
         m.dtype)
  _check(m.param_dtype in DTYPES, "model.param_dtype",
         f"must be one of {DTYPES}", m.param_dtype)
  _check(m.attention in ("einsum", "xla", "cudnn"), "model.attention",
         "must be one of einsum, xla, cudnn", m.attention)
  _check(m.precision in PRECISIONS, "model.precision",
         f"must be one of {PRECISIONS}", m.precision)
  _check(isinstance(m.decode_chunk, int) and m.decode_chunk >= 1,
         "model.decode_chunk", "must be an integer >= 1", m.decode_chunk)
  _check(m.mlp_activation in ("silu", "gelu_tanh"), "model.mlp_activation",
         "must be silu or gelu_tanh", m.mlp_activation)
  rs = tuple(m.rope_scaling)
  _check(rs == () or (rs[0] == "linear" and len(rs) == 2) or
         (rs[0] == "llama3" and len(rs) == 5), "model.rope_scaling",
         "must be (), ('linear', factor) or ('llama3', factor, "
         "low_freq_factor, high_freq_factor, original_max_positions)", rs)


def _validate_sft(config) -> None:
  """The data lengths and the cold start (whose fields other stages reuse)."""
  for f in ("max_prompt_len", "max_new_tokens"):
    _check(config.data[f] > 0, f"data.{f}", "must be > 0", config.data[f])
  s = config.sft
  for f in ("num_examples", "batch_size"):
    _check(s[f] > 0, f"sft.{f}", "must be > 0", s[f])
  _check(s.steps >= 0, "sft.steps", "must be >= 0", s.steps)
  _optimizer(s, "sft")
  _check(s.schedule in ("cosine", "constant"), "sft.schedule",
         "must be 'cosine' or 'constant'", s.schedule)
  _check(0 <= s.bare_share <= 1, "sft.bare_share", "must be in [0, 1]",
         s.bare_share)
  _check(isinstance(s.bare_max_steps, int) and s.bare_max_steps >= 0,
         "sft.bare_max_steps", "must be an integer >= 0", s.bare_max_steps)
  _check(config.sft.curate_pool == 0 or
         config.sft.curate_pool >= config.sft.num_examples,
         "sft.curate_pool", f"must be 0 or >= sft.num_examples="
         f"{config.sft.num_examples}", config.sft.curate_pool)


def _validate_run(config) -> None:
  """Evaluation, checkpoints, logging and the mesh."""
  e = config.eval
  for f in ("num_problems", "batch_size", "every", "periodic_problems"):
    _check(e[f] > 0, f"eval.{f}", "must be > 0", e[f])
  _check(config.checkpoint.every > 0, "checkpoint.every", "must be > 0",
         config.checkpoint.every)
  _check(config.checkpoint.keep > 0, "checkpoint.keep", "must be > 0",
         config.checkpoint.keep)
  _check(config.log_every > 0, "log_every", "must be > 0", config.log_every)
  sizes = [config.mesh[a] for a in ("data", "fsdp", "tensor")]
  _check(sizes.count(-1) <= 1 and all(x == -1 or x > 0 for x in sizes),
         "mesh", "sizes must be positive, at most one -1", dict(config.mesh))


def _validate_rl(config) -> None:
  """RL fields; the names of the accepted strings come from the code."""
  r, vocab_size = config.rl, config.model.vocab_size
  _check(r.prm_mode in ("sequence", "step"), "rl.prm_mode",
         "must be sequence or step", r.prm_mode)
  _check(r.prm_aggregate in ("min", "prod", "mean", "last"),
         "rl.prm_aggregate", "must be one of min, prod, mean, last",
         r.prm_aggregate)
  _check(r.prm_weight == 0 or bool(r.prm_path), "rl.prm_weight",
         "needs rl.prm_path (a PRM saved by reasoning_jax.verify)",
         r.prm_weight)
  _check(isinstance(r.prm_max_steps, int) and r.prm_max_steps > 0,
         "rl.prm_max_steps", "must be a positive integer", r.prm_max_steps)
  from reasoning_jax.rl import advantages, losses  # pylint: disable=g-import-not-at-top
  _check(r.algorithm in losses.ALGORITHM_LOSSES, "rl.algorithm",
         f"must be one of {tuple(losses.ALGORITHM_LOSSES)}", r.algorithm)
  _check(r.advantage in advantages.GROUP_ADVANTAGES, "rl.advantage",
         f"must be one of {tuple(advantages.GROUP_ADVANTAGES)}", r.advantage)
  _check(r.loss_reduction in losses.REDUCTIONS, "rl.loss_reduction",
         f"must be one of {tuple(losses.REDUCTIONS)}", r.loss_reduction)
  _positive_ints(r, "rl", ("steps", "num_prompts", "num_updates",
                           "minibatch_size", "max_draws", "eval_every"))
  _check(r.group_size >= 2, "rl.group_size",
         "must be >= 2 (group statistics)", r.group_size)
  _check((r.num_prompts * r.group_size) % r.minibatch_size == 0,
         "rl.minibatch_size",
         f"must divide num_prompts*group_size={r.num_prompts * r.group_size}",
         r.minibatch_size)
  _check(_finite(r.temperature) and r.temperature > 0, "rl.temperature",
         "must be a finite number > 0", r.temperature)
  _check(0 < r.top_p <= 1, "rl.top_p", "must be in (0, 1]", r.top_p)
  _check(isinstance(r.top_k, int) and 0 <= r.top_k <= vocab_size,
         "rl.top_k", f"must be an integer in [0, model.vocab_size="
         f"{vocab_size}] (0: off)", r.top_k)
  _check(0 < r.clip_eps < 1, "rl.clip_eps", "must be in (0, 1)", r.clip_eps)
  _optimizer(r, "rl", ("learning_rate", "critic_lr"))
  for f in ("value_coef", "entropy_coef", "value_clip"):
    _check(_finite(r[f]) and r[f] >= 0, f"rl.{f}",
           "must be a finite number >= 0", r[f])
  _check(r.clip_eps_high >= 0, "rl.clip_eps_high", "must be >= 0",
         r.clip_eps_high)
  _check(r.kl_beta >= 0, "rl.kl_beta", "must be >= 0", r.kl_beta)
  _check(0 < r.gamma <= 1 and 0 <= r.lam <= 1, "rl.gamma/lam",
         "need 0 < gamma <= 1 and 0 <= lam <= 1", (r.gamma, r.lam))
