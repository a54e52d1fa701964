"""Verifiers against hand-worked cases and plain NumPy references."""

import itertools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasoning_jax.data import tasks
from reasoning_jax.rewards import aggregate
from reasoning_jax.train import checkpoint
from reasoning_jax.train import verifier_fit
from reasoning_jax.verifiers import label
from reasoning_jax.verifiers import metrics
from reasoning_jax.verifiers import reward_model as rm
from reasoning_jax.verifiers import steps

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

THINK, CLOSE, NL = 5, 6, 7


def test_step_boundaries_hand_worked():
  # <think> \n a b \n c \n </think> x eos
  ids = [THINK, NL, 10, 11, NL, 12, NL, CLOSE, 8, 2]
  assert steps.step_boundaries(ids, THINK, CLOSE, NL) == [(2, 4), (5, 6)]
  # A last line running into </think> ends there; blank lines are skipped.
  assert steps.step_boundaries(
      [THINK, 10, NL, NL, 11, CLOSE], THINK, CLOSE, NL
  ) == [(1, 2), (4, 5)]
  assert steps.step_boundaries([THINK, 10, NL], THINK, CLOSE, NL) == []
  assert steps.step_boundaries([10, NL, CLOSE], THINK, CLOSE, NL) == []


def test_step_prefixes_end_after_each_step_line():
  c = "<think>\n2+12\n\n15\n</think>\n\\boxed{15}"
  assert label.step_prefixes(c) == ["<think>\n2+12\n", "<think>\n2+12\n\n15\n"]
  assert label.step_prefixes("<think>\n2+12</think>") == ["<think>\n2+12"]
  assert label.step_prefixes("no think") == []


def _trace(completion, answer="14", prompt="Compute 2+3*4."):
  task = tasks.get_task("arith")
  ex = tasks.Example(prompt, answer, "")
  st = label.think_steps(completion)
  return steps.Trace(
      prompt,
      answer,
      completion,
      int(task.is_correct(completion, ex)),
      st,
      steps.exact_labels(task, ex, st),
  )


def test_math_shepherd_against_a_scripted_policy():
  """K=4 continuations per prefix, scripted; labels worked out by hand.

  Trace 1 (wrong at step 2): 2+12 (ok) / 15 (wrong). From "2+12" the policy
  finishes 14, 14, 13, 14 -> soft 3/4, hard 1; from "15" it can only box 15
  -> 0, 0. Trace 2 (right): from "2+12" 14 x4 -> 1; from "14" -> 1.
  """
  wrong = _trace("<think>\n2+12\n15\n</think>\n\\boxed{15}")
  right = _trace("<think>\n2+12\n14\n</think>\n\\boxed{14}")
  assert (wrong.exact, right.exact) == ([1, 0], [1, 1])
  assert (wrong.correct, right.correct) == (0, 1)
  script = {
      "2+12\n": itertools.cycle(
          ["14\n</think>\n\\boxed{14}"] * 2
          + ["13\n</think>\n\\boxed{13}", "14\n</think>\n\\boxed{14}"]
      )
  }
  calls = []

  def complete(prompts):
    calls.append(len(prompts))
    out = []
    for p in prompts:
      if p.endswith("15\n"):
        out.append("</think>\n\\boxed{15}")
      elif p.endswith("14\n"):
        out.append("</think>\n\\boxed{14}")
      else:
        out.append(next(script["2+12\n"]))
    return out

  task = tasks.get_task("arith")
  got = label.math_shepherd(complete, [wrong, right], 4, task.is_correct)
  assert calls == [16]  # every prefix of every trace in one batch.
  assert got[0].soft == [0.75, 0.0] and got[0].hard == [1, 0]
  assert got[1].soft[1] == 1.0 and got[1].hard == [1, 1]
  assert wrong.soft is None  # inputs are not modified.


def test_jsonl_roundtrip_and_errors_name_file_and_line(tmp_path):
  t = _trace("<think>\n2+12\n14\n</think>\n\\boxed{14}")
  t.soft, t.hard = [0.5, 1.0], [1, 1]
  path = str(tmp_path / "t.jsonl")
  steps.write_jsonl(path, [t, t])
  assert steps.read_jsonl(path) == [t, t]
  lines = open(path).read().splitlines()
  bad = lines[0].replace('"soft": [0.5, 1.0]', '"soft": [0.5]')
  open(path, "w").write(lines[0] + "\n" + bad + "\n")
  with pytest.raises(ValueError, match=r"t\.jsonl:2: soft has 1 labels"):
    steps.read_jsonl(path)
  open(path, "w").write(lines[0] + "\n\n{not json\n")
  with pytest.raises(ValueError, match=r"t\.jsonl:3:"):
    steps.read_jsonl(path)


def _np_aggregate(s, m, how):
  out = []
  for row, mask in zip(s, m):
    v = row[mask.astype(bool)]
    if not len(v):
      out.append(0.0)
    else:
      out.append(
          {
              "min": v.min(),
              "prod": np.prod(v.astype(np.float64)),
              "mean": v.mean(),
              "last": v[-1],
          }[how]
      )
  return np.asarray(out)


@pytest.mark.parametrize("how", aggregate.HOW)
def test_aggregate_step_scores_matches_numpy(how):
  rng = np.random.default_rng(0)
  s = rng.uniform(0.05, 1, (6, 5)).astype(np.float32)
  m = rng.uniform(size=(6, 5)) < 0.6
  m[0] = False  # no steps.
  m[1] = True
  s[~m] = rng.uniform(-5, 5, (~m).sum())  # garbage in padded steps.
  got = aggregate.aggregate_step_scores(jnp.asarray(s), jnp.asarray(m), how)
  np.testing.assert_allclose(got, _np_aggregate(s, m, how), rtol=1e-5)


def test_prod_long_chains_and_bad_how():
  s = jnp.full((1, 30), 0.5, jnp.float32)
  got = float(
      aggregate.aggregate_step_scores(s, jnp.ones((1, 30), bool), "prod")[0]
  )
  assert got == pytest.approx(2.0**-30, rel=1e-5)
  z = jnp.asarray([[0.9, 0.0, 0.9]])  # a zero step: the product is ~0.
  assert float(aggregate.aggregate_step_scores(z, z >= 0, "prod")[0]) < 1e-29
  with pytest.raises(ValueError, match="how must be"):
    aggregate.aggregate_step_scores(s, s > 0, "max")


def test_steps_from_mask_matches_numpy():
  rng = np.random.default_rng(1)
  mask = rng.uniform(size=(5, 12)) < 0.3
  pos, ok = rm.steps_from_mask(jnp.asarray(mask), 4)
  for b in range(5):
    want = np.nonzero(mask[b])[0][:4]
    np.testing.assert_array_equal(np.asarray(pos[b])[: len(want)], want)
    assert np.asarray(ok[b]).sum() == len(want)


def test_prm_loss_is_bce_at_boundaries_only():
  rng = np.random.default_rng(2)
  b, t, s = 3, 10, 4
  z = rng.normal(size=(b, t)).astype(np.float32)
  pos = np.asarray([[1, 4, 6, 0], [2, 3, 0, 0], [0, 0, 0, 0]], np.int32)
  ok = np.asarray([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], bool)
  y = rng.uniform(size=(b, s)).astype(np.float32)  # soft labels.
  got = float(rm.prm_loss(jnp.asarray(z), pos, ok, jnp.asarray(y)))
  zz = np.take_along_axis(z, pos, 1)[ok].astype(np.float64)
  p = 1 / (1 + np.exp(-zz))
  want = -np.mean(y[ok] * np.log(p) + (1 - y[ok]) * np.log(1 - p))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  boundary = np.zeros((b, t), bool)
  boundary[np.nonzero(ok)[0], pos[ok]] = True
  z2 = np.where(boundary, z, z + 100.0)  # move every non-boundary score.
  assert float(rm.prm_loss(jnp.asarray(z2), pos, ok, jnp.asarray(y))) == (
      pytest.approx(got, rel=1e-6)
  )
  z3 = z.copy()
  z3[0, 4] += 1.0
  assert float(rm.prm_loss(jnp.asarray(z3), pos, ok, jnp.asarray(y))) != (
      pytest.approx(got, rel=1e-4)
  )


def test_auroc_matches_pairwise_count():
  rng = np.random.default_rng(3)
  s = rng.integers(0, 5, 40).astype(float)  # many ties.
  y = rng.uniform(size=40) < 0.4
  pairs = [
      (1.0 if a > c else 0.5 if a == c else 0.0) for a in s[y] for c in s[~y]
  ]
  assert metrics.auroc(s, y) == pytest.approx(np.mean(pairs))
  assert np.isnan(metrics.auroc(s, np.ones(40, bool)))


def test_first_error_f1_hand_worked():
  mask = np.asarray([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 0, 0]], bool)
  gold = np.asarray([[1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 0, 0]], float)
  pred = np.asarray(
      [[0.9, 0.2, 0.1], [0.9, 0.8, 0.1], [0.9, 0.3, 0.4], [0.2, 0, 0]]
  )
  r = metrics.first_error_f1(pred, gold, mask)
  # Errors at step 1 (found), step 2 (predicted 1: missed). Error-free:
  # row 1 (predicted none: right), row 3 (predicted 0: wrong).
  assert (r["error_acc"], r["correct_acc"], r["f1"]) == (0.5, 0.5, 0.5)


@pytest.fixture(scope="module")
def smoke_ctx(tmp_path_factory):
  sys.path.insert(0, ROOT)
  from configs import verifier  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import context  # pylint: disable=g-import-not-at-top

  config = verifier.get_config("smoke")
  return context.build_context(config, str(tmp_path_factory.mktemp("verifier")))


def _reference_traces(ctx, n, seed):
  """Gold solutions and copies with one step corrupted (exact labels)."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    ex = ctx.task.example("train", 5000 + seed * 1000 + i)
    lines = ex.solution.split("\n")
    if i % 2:  # corrupt step j and everything after it.
      j = int(rng.integers(1, len(lines) - 2))
      lines = (
          lines[:j]
          + [ln + "1" for ln in lines[j:-2]]
          + ["</think>", "\\boxed{" + lines[-3] + "1}"]
      )
    out.append(_trace("\n".join(lines), ex.answer, ex.prompt))
  return out


def test_encode_traces_puts_labels_on_newline_tokens(smoke_ctx):
  ctx = smoke_ctx
  tr = _reference_traces(ctx, 4, 0)
  sb = steps.encode_traces(
      ctx.tok, tr, prompt_len=32, completion_len=32, max_steps=8
  )
  nl = ctx.tok.piece_id("\n")
  for i, t in enumerate(tr):
    pos = sb.step_pos[i][sb.step_valid[i]]
    assert len(pos) == len(t.steps)
    assert (sb.ids[i, pos] == nl).all()
    np.testing.assert_array_equal(sb.labels[i][sb.step_valid[i]], t.exact)
    # The tokens before each boundary decode to the step line.
    starts = [32 + 2] + list(pos[:-1] + 1)
    for s0, e, text in zip(starts, pos, t.steps):
      assert ctx.tok.decode(sb.ids[i, s0:e]).strip() == text
    assert sb.ids[i, sb.last[i]] == ctx.tok.eos_id


@pytest.mark.parametrize("kind", ["orm", "prm"])
def test_training_reduces_held_out_loss(smoke_ctx, kind):
  import dataclasses  # pylint: disable=g-import-not-at-top

  ctx = smoke_ctx
  shape = dict(prompt_len=32, completion_len=32, max_steps=8)
  train = steps.encode_traces(ctx.tok, _reference_traces(ctx, 64, 1), **shape)
  held = steps.encode_traces(ctx.tok, _reference_traces(ctx, 32, 2), **shape)
  dummy = jnp.ones((1, 8), jnp.int32)
  policy = jax.tree.map(
      np.asarray,
      __import__("flax").linen.unbox(
          ctx.model.init(jax.random.PRNGKey(0), dummy, dummy, dummy > 0)[
              "params"
          ]
      ),
  )
  ctx = dataclasses.replace(ctx, workdir=os.path.join(ctx.workdir, kind))
  _, hist = verifier_fit.train_reward_model(
      ctx,
      policy,
      kind,
      train,
      held,
      name=kind,
      steps=60,
      batch_size=16,
      learning_rate=3e-3,
  )
  before, after = hist["eval_loss"][0][1], hist["eval_loss"][-1][1]
  assert before == pytest.approx(np.log(2), rel=1e-3)  # zero head: p = 1/2.
  assert after < before - 0.1, hist["eval_loss"]


def test_verify_entrypoint_smoke_writes_traces_and_table(tmp_path):
  """Runs twice: the second run resumes every finished stage."""
  import subprocess  # pylint: disable=g-import-not-at-top

  for _ in range(2):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "reasoning_jax.verify",
            "--config=configs/verifier.py:smoke",
            f"--workdir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
  assert "orm: resumed from step 4" in r.stderr
  train = steps.read_jsonl(str(tmp_path / "traces" / "train.jsonl"))
  assert len(train) == 16 * 2  # train_problems x samples_per_problem.
  assert (
      "| ORM (outcome labels) |" in (tmp_path / "verifier_eval.md").read_text()
  )
  assert (tmp_path / "verifier_loss.png").stat().st_size > 1000


def test_boundary_mask_on_device_matches_host_step_boundaries():
  rng = np.random.default_rng(4)
  vocab = [THINK, CLOSE, NL, NL, 10, 11, 12]
  toks = rng.choice(vocab, size=(200, 12)).astype(np.int32)
  toks[:100, 0] = THINK  # half open with <think>.
  mask = np.ones_like(toks, bool)
  got = np.asarray(
      steps.boundary_mask(
          jnp.asarray(toks), jnp.asarray(mask), THINK, CLOSE, NL
      )
  )
  for row, g in zip(toks, got):
    want = np.zeros(len(row), bool)
    for _, end in steps.step_boundaries(row, THINK, CLOSE, NL):
      want[end] = True
    np.testing.assert_array_equal(g, want, err_msg=str(row))
  assert got.sum() > 50  # the comparison is not vacuous.


def test_process_advantages_match_numpy():
  from reasoning_jax.rl import advantages  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(5)
  g, p, s, n = 4, 3, 3, 10
  r = rng.uniform(size=(p * g, s)).astype(np.float32)
  pos = np.sort(rng.choice(n, size=(p * g, s)), axis=1).astype(np.int32)
  ok = rng.uniform(size=(p * g, s)) < 0.8
  r[8:12] = 0.5  # a group with no spread: no process advantage.
  got = np.asarray(advantages.process_advantages(r, pos, ok, g, n))
  want = np.zeros((p * g, n))
  for grp in range(p):
    rows = slice(grp * g, (grp + 1) * g)
    vals = r[rows][ok[rows]].astype(np.float64)
    sd = vals.std()
    norm = np.where(ok[rows], (r[rows] - vals.mean()) / (sd + 1e-6), 0.0)
    if sd == 0:
      norm[:] = 0
    for i in range(g):
      for t in range(n):
        want[grp * g + i, t] = sum(
            norm[i, k]
            for k in range(s)
            if ok[grp * g + i, k] and pos[grp * g + i, k] >= t
        )
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  assert np.abs(got[8:12]).max() == 0 and np.abs(got).max() > 0.5


def test_grpo_loss_token_advantages_equal_broadcast_sequence_ones():
  from reasoning_jax.rl import losses  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(6)
  lp, old, ref = (
      jnp.asarray(rng.normal(size=(4, 5)) * 0.1 - 1) for _ in range(3)
  )
  mask = jnp.asarray(rng.uniform(size=(4, 5)) < 0.8)
  adv = jnp.asarray(rng.normal(size=4), jnp.float32)
  a, _ = losses.grpo_loss(lp, old, ref, adv, mask)
  b, _ = losses.grpo_loss(
      lp, old, ref, jnp.broadcast_to(adv[:, None], (4, 5)), mask
  )
  np.testing.assert_allclose(a, b, rtol=1e-6)


def _random_prm(ctx, seed):
  """A PRM with a random (not zero) head, so its scores vary."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  prm = rm.reward_model(ctx.model.cfg)
  dummy = jnp.ones((1, 8), jnp.int32)
  params = nn.unbox(
      prm.init(jax.random.PRNGKey(seed), dummy, dummy, dummy > 0)["params"]
  )
  params["reward_head"]["kernel"] = jax.random.normal(
      jax.random.PRNGKey(seed + 1), params["reward_head"]["kernel"].shape
  )
  return prm, params


def test_rollout_process_rewards_match_an_independent_recomputation(
    smoke_ctx, tmp_path
):
  """A scripted policy emits reference / corrupted solutions; the rollout's
  reward must be rule + w · min over steps of a full PRM forward's
  sigmoid at the host-found boundaries; the saved PRM round-trips."""
  from reasoning_jax.config import rl as rl_config  # pylint: disable=g-import-not-at-top
  from reasoning_jax.data import encoding  # pylint: disable=g-import-not-at-top
  from reasoning_jax.sampling.sampler import SampleOutput  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import rollout as rollout_lib  # pylint: disable=g-import-not-at-top

  ctx = smoke_ctx
  tok, g, n = ctx.tok, 2, ctx.config.data.max_new_tokens
  examples = [ctx.task.example("train", 7000 + i) for i in range(4)]
  traces = _reference_traces(ctx, 8, 3)  # any completions will do.
  comp = np.zeros((8, n), np.int32)
  for i, t in enumerate(traces):
    row = (tok.encode(t.completion) + [tok.eos_id])[:n]
    comp[i, : len(row)] = row

  def scripted(params, ids, valid, key, temperature):
    del params, ids, valid, key, temperature
    return SampleOutput(
        jnp.asarray(comp),
        jnp.zeros(comp.shape),
        jnp.asarray(comp != 0),
        jnp.asarray((comp != 0).sum(1)),
    )

  prm, params = _random_prm(ctx, 1)
  checkpoint.save_params(str(tmp_path / "prm"), params)
  loaded = checkpoint.read_params(
      str(tmp_path / "prm"), rm.abstract_params(prm)
  )
  ids3 = (tok.piece_id("<think>"), tok.piece_id("</think>"), tok.piece_id("\n"))
  fn = rm.make_process_reward(
      prm, loaded, 8, think_id=ids3[0], close_id=ids3[1], newline_id=ids3[2]
  )
  rc = ctx.config.rl.copy_and_resolve_references()
  rc.update(
      prm_weight=0.5,
      prm_mode="sequence",
      prm_aggregate="min",
      overlong_buffer=0,  # the smoke config's length shaping: not here.
      num_prompts=4,
      group_size=g,
      temperature=1.0,
  )
  rc = rl_config.resolve(rc)
  ro, _ = rollout_lib.rollout(
      ctx,
      None,
      scripted,
      lambda s, k: examples[s : s + k],
      jax.random.PRNGKey(0),
      rc=rc,
      process_reward=fn,
  )
  # Independent: full forward over prompt ++ completion, host boundaries.
  pl = ctx.config.data.max_prompt_len
  pids, pvalid = encoding.encode_prompts(
      tok, [encoding.prompt_text(e) for e in examples], pl
  )
  seq = np.concatenate([np.repeat(pids, g, 0), comp], 1)
  valid = np.concatenate([np.repeat(pvalid, g, 0), comp != 0], 1)
  z = np.asarray(
      rm.token_scores(prm, params, jnp.asarray(seq), jnp.asarray(valid))
  )
  for i in range(8):
    spans = steps.step_boundaries(comp[i], *ids3)
    assert spans  # every scripted completion has steps.
    p = 1 / (1 + np.exp(-np.asarray([z[i, pl + e] for _, e in spans])))
    rule = float(ctx.task.is_correct(traces[i].completion, examples[i // g]))
    np.testing.assert_allclose(
        ro.rewards[i], rule + 0.5 * p[:8].min(), rtol=1e-4
    )
    ok = ro.steps.valid_bs[i]
    np.testing.assert_allclose(ro.steps.scores_bs[i][ok], p[:8], rtol=1e-4)
    np.testing.assert_array_equal(
        ro.steps.pos_bs[i][ok], [e for _, e in spans][:8]
    )


def test_generative_verifier_queries_and_training(smoke_ctx):
  import dataclasses  # pylint: disable=g-import-not-at-top

  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  from reasoning_jax.verifiers import generative as gv  # pylint: disable=g-import-not-at-top

  ctx = smoke_ctx
  shape = dict(prompt_len=32, completion_len=32, max_steps=8)
  tr = _reference_traces(ctx, 48, 4)
  sb = steps.encode_traces(ctx.tok, tr, **shape)
  query, yes, no = gv.answer_ids(ctx.tok)
  qb = gv.query_batch(sb, query, ctx.tok.pad_id)
  assert len(qb) == sum(len(t.steps) for t in tr)
  for r in range(0, len(qb), 7):  # prompt ++ steps so far ++ query.
    i, k = qb.trace[r], qb.step[r]
    text = ctx.tok.decode(qb.ids[r][qb.valid[r]])
    assert text.endswith(tr[i].steps[k] + "\n" + gv.QUERY), text
    assert qb.at[r] == sb.step_pos[i, k] + len(query)
    assert qb.labels[r] == tr[i].exact[k]
  # Training on the yes/no answers lowers the held-out loss.
  held = gv.query_batch(
      steps.encode_traces(ctx.tok, _reference_traces(ctx, 24, 5), **shape),
      query,
      0,
  )
  arrays = lambda q: {
      "ids": q.ids,
      "valid": q.valid,
      "at": q.at,
      "labels": q.labels,
  }
  dummy = jnp.ones((1, qb.ids.shape[1]), jnp.int32)
  init_fn = lambda k: ctx.model.init(k, dummy, dummy, dummy > 0)["params"]
  policy = nn.unbox(init_fn(jax.random.PRNGKey(0)))
  c2 = dataclasses.replace(ctx, workdir=os.path.join(ctx.workdir, "gv"))
  params, hist = verifier_fit.fit(
      c2,
      "genver",
      init_fn,
      policy,
      lambda p, b: gv.loss(ctx.model, yes, no, p, b),
      arrays(qb),
      arrays(held),
      steps=60,
      batch_size=16,
      learning_rate=3e-3,
  )
  assert hist["eval_loss"][-1][1] < hist["eval_loss"][0][1] - 0.1, hist
  s = gv.scores(ctx.model, params, held, 24, 8, yes, no)
  assert (
      s.shape == (24, 8)
      and (
          s[
              ~np.asarray(
                  steps.encode_traces(
                      ctx.tok, _reference_traces(ctx, 24, 5), **shape
                  ).step_valid
              )
          ]
          == 0
      ).all()
  )


def test_beam_adapters_score_prefixes_like_full_traces(smoke_ctx):
  """The PRM score of a partial completion equals the full trace's score at
  that step (causal PRM); the expander returns k next steps per prefix."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  from reasoning_jax.search import beam  # pylint: disable=g-import-not-at-top
  from reasoning_jax.search import best_of_n

  ctx = smoke_ctx
  ex = [ctx.task.example("train", 9000)]
  full = _trace(ex[0].solution, ex[0].answer, ex[0].prompt)
  prm, params = _random_prm(ctx, 3)
  dummy = jnp.ones((1, 8), jnp.int32)
  ss, _ = rm.make_scorers(prm, 8)
  last = best_of_n.prm_verifiers(ss, params, ["last"])["last"]
  score = beam.state_scorer(ctx, last, ex, max_steps=8)
  sb = steps.encode_traces(
      ctx.tok,
      [full],
      prompt_len=32,
      completion_len=ctx.config.data.max_new_tokens,
      max_steps=8,
  )
  want, ok = (
      np.asarray(x)[0] for x in ss(params, sb.ids, sb.valid, sb.boundary)
  )
  prefixes = label.step_prefixes(full.completion)
  got = score([(0, p) for p in prefixes] + [(0, "<think>\n")])
  np.testing.assert_allclose(got[:-1], want[ok], rtol=1e-5)
  assert got[-1] == 1.0  # no step yet: neutral.
  policy = nn.unbox(
      ctx.model.init(jax.random.PRNGKey(0), dummy, dummy, dummy > 0)["params"]
  )
  expand = beam.policy_expander(
      ctx,
      policy,
      ex,
      jax.random.PRNGKey(1),
      temperature=1.0,
      batch_size=16,
      k=3,
  )
  out = expand([(0, ""), (0, prefixes[0])], 3)
  assert [len(o) for o in out] == [3, 3]
  nl = ctx.tok.piece_id("\n")
  for o in sum(out, []):  # at most one newline, and only at the end.
    ids = ctx.tok.encode(o)
    assert nl not in ids[:-1]
  # With log-probs (MCTS priors): the same draws as without (same key).
  again = beam.policy_expander(
      ctx,
      policy,
      ex,
      jax.random.PRNGKey(1),
      temperature=1.0,
      batch_size=16,
      k=3,
      with_logprob=True,
  )([(0, ""), (0, prefixes[0])], 3)
  assert [list(t) for t, _ in again] == out
  assert all(np.isfinite(lp).all() and (lp < 0).all() for _, lp in again)


def _alter_one_step(text: str, rng) -> str:
  """A gold solution with the first number of one think line moved by 1-3
  (an arithmetic slip; the other lines stay gold)."""
  import re  # pylint: disable=g-import-not-at-top

  lines = text.split("\n")
  think = [
      i for i in range(1, lines.index("</think>")) if re.search(r"\d", lines[i])
  ]
  j = int(rng.choice(think))
  m = re.search(r"\d+", lines[j])
  new = int(m.group()) + int(rng.choice([-3, -2, -1, 1, 2, 3]))
  if new < 0:
    new = int(m.group()) + 1
  lines[j] = lines[j][: m.start()] + str(new) + lines[j][m.end() :]
  return "\n".join(lines)


def test_likelihood_verifier_ranks_gold_above_its_own_corruptions(tmp_path):
  """Gold and corrupted solutions of the *same* problem (one step's number
  off by 1-3): an LM verifier trained on other problems' gold solutions
  must rank each problem's gold solution above its corruptions. A detector
  of hard problems scores 0.5 here by construction (checked too)."""
  sys.path.insert(0, ROOT)
  from configs import verifier as verifier_cfg  # pylint: disable=g-import-not-at-top
  from reasoning_jax import verify  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import context  # pylint: disable=g-import-not-at-top
  from reasoning_jax.verifiers import likelihood  # pylint: disable=g-import-not-at-top

  config = verifier_cfg.get_config("smoke")
  config.verifier.update(lm_examples=12800, lm_steps=400, lm_batch_size=32)
  config.verifier.lm_model.update(
      d_model=96, n_layers=3, n_heads=4, n_kv_heads=2, head_dim=24, d_ff=256
  )
  ctx = context.build_context(config, str(tmp_path))
  (model, params), info = verify.train_lm_verifier(config, ctx, str(tmp_path))
  rng = np.random.default_rng(0)
  traces, problem = [], []
  for q in range(48):
    ex = ctx.task.example("test", q)
    traces.append(_trace(ex.solution, ex.answer, ex.prompt))
    for _ in range(3):
      traces.append(
          _trace(_alter_one_step(ex.solution, rng), ex.answer, ex.prompt)
      )
    problem += [q] * 4
  pl = config.data.max_prompt_len
  sb = steps.encode_traces(
      ctx.tok,
      traces,
      prompt_len=pl,
      completion_len=config.data.max_new_tokens,
      max_steps=8,
  )
  s, ok, tail, tail_ok = likelihood.make_scorer(model, pl, 8)(
      params, sb.ids, sb.valid, sb.boundary
  )
  score = np.asarray(
      aggregate.aggregate_step_scores(
          *likelihood.with_tail(s, ok, tail, tail_ok), "min"
      )
  )
  gold = np.tile([1, 0, 0, 0], 48)
  within, groups = metrics.within_group_auroc(score, gold, problem)
  assert groups == 48
  assert within > 0.8, (within, info)  # 0.90 when written.
  hardness = np.asarray([len(t.prompt) for t in traces], float)
  assert metrics.within_group_auroc(hardness, gold, problem)[0] == 0.5


def test_within_problem_metrics_hand_worked():
  """Two problems of four samples. Problem 0: scores rank its right samples
  first (AUROC 1); problem 1: last (AUROC 0); a problem with one class does
  not count. Pooled, a score that only tells problems apart is perfect
  while within problems it is 0.5."""
  scores = np.array(
      [[0.9, 0.8, 0.2, 0.1], [0.1, 0.2, 0.8, 0.9], [0.5, 0.5, 0.5, 0.5]]
  )
  correct = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
  auc, groups = metrics.within_problem_auroc(scores, correct)
  assert (auc, groups) == (0.5, 2)
  assert metrics.within_problem_auroc(scores[:1], correct[:1])[0] == 1.0
  # Distinct texts: problem 0's two right samples are one text.
  texts = np.array(
      [["a", "a ", "b", "c"], ["a", "b", "c", "d"], ["a", "a", "a", "a"]],
      object,
  )
  assert metrics.distinct_rows(texts) == [[0, 2, 3], [0, 1, 2, 3], [0]]
  assert metrics.within_problem_auroc(scores, correct, texts)[1] == 2
  top, bottom = metrics.top_bottom(scores, correct, 4)
  np.testing.assert_array_equal(top, [1, 0, 1])  # ties: earliest.
  np.testing.assert_array_equal(bottom, [0, 1, 1])
  np.testing.assert_allclose(
      metrics.random_distinct(correct, texts, 4), [1 / 3, 0.5, 1.0]
  )
  difficulty = np.repeat([[1.0], [0.0]], 4, 1)  # knows the problem only.
  both = np.array([[1, 1, 1, 0], [0, 1, 0, 0]])
  assert metrics.auroc(difficulty.ravel(), both.ravel()) == 0.75  # 12/16.
  assert metrics.within_problem_auroc(difficulty, both)[0] == 0.5


def test_span_min_matches_a_loop():
  """Least token log-prob per step span and in the tail, against a loop
  over hand-built rows (prompt of 2 slots, boundaries at newlines)."""
  from reasoning_jax.verifiers import likelihood  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  b, t, p, s = 6, 12, 2, 3
  logp = -rng.random((b, t))
  valid = np.ones((b, t), bool)
  valid[1, 9:] = False  # shorter row.
  valid[2, 0] = False  # left-padded prompt.
  bnd = rng.random((b, t)) < 0.3
  bnd[:, :p] = False
  bnd[3] = False  # no step at all: everything is tail.
  bnd[4, p:-2] = True  # more boundaries than S, then a tail.
  got = [
      np.asarray(x)
      for x in likelihood.span_min(
          jnp.asarray(logp), jnp.asarray(valid), jnp.asarray(bnd), p, s
      )
  ]
  for i in range(b):
    spans, cur = [], []
    for j in range(p, t):
      if not valid[i, j]:
        continue
      cur.append(logp[i, j])
      if bnd[i, j]:
        spans.append(min(cur))
        cur = []
    n = min(len(spans), s)
    np.testing.assert_allclose(got[0][i, :n], spans[:n], rtol=1e-6)
    assert list(got[1][i]) == [k < n for k in range(s)]
    assert got[3][i] == bool(cur)  # the tail: after the last boundary.
    if cur:
      np.testing.assert_allclose(got[2][i], min(cur), rtol=1e-6)


def test_pairwise_loss_matches_numpy_and_ignores_difficulty():
  """Bradley–Terry over (right, wrong) pairs of one problem, against a
  loop; a score constant within each problem gets log 2 whatever it says
  about the problems."""
  rng = np.random.default_rng(1)
  z = rng.normal(size=12)
  y = rng.random(12) < 0.5
  g = np.repeat(np.arange(3), 4)
  want = [
      np.log1p(np.exp(-(z[i] - z[j])))
      for i in range(12)
      for j in range(12)
      if g[i] == g[j] and y[i] and not y[j]
  ]
  got = rm.pairwise_loss(
      jnp.asarray(z), jnp.asarray(y, jnp.float32), jnp.asarray(g)
  )
  np.testing.assert_allclose(float(got), np.mean(want), rtol=1e-5)
  flat = jnp.asarray(np.repeat([5.0, -3.0, 0.0], 4))
  np.testing.assert_allclose(
      float(
          rm.pairwise_loss(flat, jnp.asarray(y, jnp.float32), jnp.asarray(g))
      ),
      np.log(2),
      rtol=1e-6,
  )
  assert float(rm.pairwise_loss(flat, jnp.ones(12), jnp.asarray(g))) == 0.0


def test_soft_min_is_a_smooth_weakest_step_and_zero_without_steps():
  z = jnp.asarray([[2.0, -1.0, 30.0], [4.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
  m = jnp.asarray(
      [[True, True, False], [True, False, False], [False, False, False]]
  )
  got = np.asarray(rm.soft_min(z, m))
  np.testing.assert_allclose(
      got[:2], [-np.log(np.exp(-2) + np.exp(1)), 4.0], rtol=1e-6
  )
  assert got[2] == 0.0
  g = jax.grad(lambda x: rm.soft_min(x, m).sum())(z)
  assert np.isfinite(np.asarray(g)).all()
