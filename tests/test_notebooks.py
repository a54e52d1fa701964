"""Every notebook runs top to bottom, headless, on the CPU (its small
setting), and is stored without outputs. The files the notebooks' runs
write are then checked: the quick start's printed pass@1 against a fresh
evaluation of its saved checkpoints; GRPO vs PPO (``reasoning_jax.compare``) against the
runs' own metrics and a hand count of memory; test-time scaling
(``reasoning_jax.verify`` + ``reasoning_jax.tts``) for its methods, tables
and plots."""

import glob
import json
import os

from conftest import default_config
import nbformat
import numpy as np
import pytest

from reasoning_jax.train import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(
    f
    for f in os.listdir(os.path.join(ROOT, "notebooks"))
    if f.endswith(".ipynb")
)


def test_there_are_the_four_notebooks():
  assert NOTEBOOKS == [
      "01_quickstart.ipynb",
      "02_ppo_vs_grpo.ipynb",
      "03_test_time_scaling.ipynb",
      "04_inside_the_losses.ipynb",
  ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
  nb = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
  nbformat.validate(nb)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None, name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_on_cpu(name, tmp_path):
  from nbclient import NotebookClient  # pylint: disable=g-import-not-at-top

  nb = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
  env = {
      "JAX_PLATFORMS": "cpu",
      "MPLBACKEND": "Agg",
      "TMPDIR": str(tmp_path),
      "XLA_FLAGS": "",
  }
  old = {k: os.environ.get(k) for k in env}
  os.environ.update(env)  # the kernel inherits this process's environment.
  try:
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}},
    ).execute()  # raises on an error.
  finally:
    for k, v in old.items():
      if v is None:
        os.environ.pop(k)
      else:
        os.environ[k] = v
  text = "".join(
      o.get("text", "")
      for c in nb.cells
      if c.cell_type == "code"
      for o in c.outputs
  )
  assert "setting: small" in text or name.startswith("04")
  CHECKS.get(name, lambda *_: None)(str(tmp_path), text)


def _only(pattern):
  (path,) = glob.glob(pattern)
  return path


def _check_quickstart(tmp, text):
  wd = _only(os.path.join(tmp, "quickstart_*"))
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  # Independent of what the run wrote: rebuild the run from its config.json,
  # load each stage's saved parameters and evaluate them again.
  import jax  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top

  from reasoning_jax.train import checkpoint  # pylint: disable=g-import-not-at-top
  from reasoning_jax.train import context  # pylint: disable=g-import-not-at-top

  with open(os.path.join(wd, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  ctx = context.build_context(config, wd)
  for stage in ("sft", "rl_grpo"):
    params = jax.tree.map(jax.numpy.asarray, checkpoint.load_params(wd, stage))
    again = ctx.evaluate(params)["pass@1"]
    assert summary[stage]["pass@1"] == pytest.approx(again, abs=1e-9)
    assert f"{stage:8s} pass@1 {again:.3f}" in text
  # Four sampled solutions, each with the verifier's verdict.
  assert text.count("-> correct") + text.count("-> wrong (answer") == 4


def _check_compare(tmp, _):
  wd = _only(os.path.join(tmp, "compare_*"))
  c = default_config("smoke")  # the small setting's model.
  with open(os.path.join(wd, "study.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  with open(os.path.join(wd, "study.json")) as f:
    out = json.load(f)
  cell = out["cells"]["sft.bare_share=0.7|on_policy"]
  seed_dir = os.path.join(wd, "sft.bare_share=0.7", "seed_0")
  for alg in ("grpo", "ppo"):
    rows = metrics.read_metrics(seed_dir, f"rl_{alg}_on_policy")
    final = [r for r in rows if "final/pass@1" in r][-1]
    assert cell[alg]["test_pass@1"]["mean"] == final["final/pass@1"]
    steps = [r["rollout_s"] + r["update_s"] for r in rows if "rollout_s" in r]
    assert len(steps) == c.rl.steps
    np.testing.assert_allclose(
        cell[alg]["seconds_per_step"]["mean"], np.median(steps)
    )
  # Memory by hand: the smoke policy has p parameters; GRPO holds params +
  # two Adam moments (3p floats); PPO adds a critic of the same backbone plus
  # a value head (d+1), with its own moments.
  import jax  # pylint: disable=g-import-not-at-top

  from reasoning_jax.models import CausalLM  # pylint: disable=g-import-not-at-top
  from reasoning_jax.models import ModelConfig  # pylint: disable=g-import-not-at-top

  toks = np.ones((1, 4), np.int32)
  shapes = jax.eval_shape(
      lambda: CausalLM(ModelConfig(**c.model.to_dict())).init(
          jax.random.PRNGKey(0), toks, toks, toks > 0
      )
  )
  p = sum(x.size for x in jax.tree.leaves(shapes))
  d, v = c.model.d_model, c.model.vocab_size
  critic = p - d * v + d + 1  # no LM head, a value head instead.
  assert cell["grpo"]["state_bytes"] == 4 * 3 * p + 4 * 2
  assert cell["ppo"]["state_bytes"] == 4 * 3 * (p + critic) + 4 * 2 * 2
  assert "| grpo |" in open(os.path.join(wd, "study.md")).read()


def _check_tts(tmp, _):
  wd = _only(os.path.join(tmp, "tts_*"))
  with open(os.path.join(wd, "tts.json")) as f:
    out = json.load(f)
  assert {
      "greedy",
      "majority",
      "oracle",
      "pass@N",
      "bon_orm",
      "bon_prm_exact_min",
      "bon_prm_exact_prod",
      "bon_prm_exact_mean",
      "bon_lmv_min",
      "weighted_lmv_min",
      "beam_prm_exact_last",
      "tot_orm",
      "mcts_prm_exact_min",
      "sequential_last",
      "sequential_majority",
  } <= set(out["methods"])
  assert sorted(out["methods"]["majority"]) == ["1", "2", "4"]
  # How each verifier ranks a problem's own samples, beside best-of-N.
  r = out["verifier_auroc"]["lmv_min"]
  assert r["top"] == out["methods"]["bon_lmv_min"]["4"]["acc"]
  assert r["majority"] == out["methods"]["majority"]["4"]["acc"]
  # Sequential@1 is the first parallel sample, as is majority@1.
  assert (
      out["methods"]["sequential_last"]["1"]["acc"]
      == out["methods"]["majority"]["1"]["acc"]
  )
  assert out["mcts_labels"]["problems"] == 2
  assert [r["budget"] for r in out["budget_forcing"]] == [
      "none",
      "min 24",
      "max 8",
  ]
  for png in ("tts_vs_n.png", "tts_vs_flops.png", "tts_by_difficulty.png"):
    assert os.path.getsize(os.path.join(wd, png)) > 1000


CHECKS = {
    "01_quickstart.ipynb": _check_quickstart,
    "02_ppo_vs_grpo.ipynb": _check_compare,
    "03_test_time_scaling.ipynb": _check_tts,
}
