"""The run and seeds reports: tables against the summaries they come from,
smoothing against a loop, panels without signal left out."""

import json
import os

import numpy as np
import pytest

from reasoning_jax.experiments import run_report
from reasoning_jax.experiments import seeds_report
from reasoning_jax.train import metrics


def _summary(p_sft=0.5, p_rl=0.9, delta=0.4):
  return {
      "sft": {
          "pass@1": p_sft,
          "pass@1_ci95": [p_sft - 0.02, p_sft + 0.02],
          "format": 0.5,
          "think": 0.5,
          "length": 25.0,
          "truncated": 0.0,
          "reflection": 0.0,
          "num_problems": 100,
          "by_difficulty": {"2": 0.1, "4": 0.9},
      },
      "rl_grpo": {
          "pass@1": p_rl,
          "pass@1_ci95": [p_rl - 0.02, p_rl + 0.02],
          "format": 1.0,
          "think": 1.0,
          "length": 38.0,
          "truncated": 0.0,
          "reflection": 0.0,
          "num_problems": 100,
          "by_difficulty": {"2": 0.9, "4": 0.9},
          "paired_vs_previous": {
              "delta": delta,
              "ci95": [delta - 0.05, delta + 0.05],
              "fixed": 41,
              "broken": 1,
              "num_problems": 100,
          },
      },
      "wall_seconds": 300.0,
  }


def test_smooth_is_a_trailing_mean():
  v = np.random.default_rng(0).random(23)
  for w in (1, 3, 7):
    want = [v[max(0, i - w + 1) : i + 1].mean() for i in range(len(v))]
    np.testing.assert_allclose(run_report.smooth(v, w), want)


def test_markdown_lists_each_stage_with_intervals_and_levels():
  md = run_report.markdown(_summary())
  assert (
      "| sft | 0.500 [0.480, 0.520] | 0.500 | 0.500 | 25.0 | 0.000 |  |" in md
  )
  assert (
      "| rl_grpo | 0.900 [0.880, 0.920] | 1.000 | 1.000 | 38.0 | 0.000 | "
      "+0.400 [+0.350, +0.450] (41 / 1) |"
  ) in md
  assert "| stage | 2 | 4 |" in md and "| sft | 0.100 | 0.900 |" in md


def test_report_png_names_the_panels_without_signal(tmp_path, monkeypatch):
  w = metrics.MetricWriter(str(tmp_path), "rl_grpo")
  for step in range(1, 11):
    w.write(
        step,
        {
            "accuracy": step / 10,
            "length": 30 + step,
            "think_rate": 1.0,
            "reflection_rate": 0.0,
        },
    )
  w.close()
  texts = []
  import matplotlib.figure  # pylint: disable=g-import-not-at-top

  real = matplotlib.figure.Figure.text
  monkeypatch.setattr(
      matplotlib.figure.Figure,
      "text",
      lambda self, x, y, s, **kw: texts.append(s) or real(self, x, y, s, **kw),
  )
  run_report.write_report(str(tmp_path), _summary())
  with open(tmp_path / "report.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  note = " ".join(t.replace("\n", " ") for t in texts)
  assert "reflection-phrase rate: 0 after every stage" in note
  assert "rollout reflection rate: 0 throughout" in note
  assert "rollout accuracy" not in note  # it has signal: drawn.


def test_seeds_summary_and_files(tmp_path):
  runs = {
      0: _summary(0.50, 0.90, 0.40),
      1: _summary(0.52, 0.88, 0.36),
      2: _summary(0.47, 0.91, 0.44),
  }
  agg = seeds_report.write_seeds_report(str(tmp_path), runs)
  sft, rl = agg["stages"]["sft"], agg["stages"]["rl_grpo"]
  assert sft["pass@1"] == [0.50, 0.52, 0.47]
  assert sft["mean"] == pytest.approx(np.mean([0.50, 0.52, 0.47]))
  assert sft["spread"] == pytest.approx(0.05)
  assert rl["gain"]["delta"] == [0.40, 0.36, 0.44]
  assert rl["gain"]["mean"] == pytest.approx(0.40)
  assert rl["gain"]["min"] == 0.36 and "gain" not in sft
  with open(tmp_path / "seeds.json") as f:
    assert json.load(f) == json.loads(json.dumps(agg))
  md = open(tmp_path / "seeds.md").read()
  assert "| 1 | 0.520 [0.500, 0.540] | 0.880 [0.860, 0.900] | " in md
  assert "+0.360 [+0.310, +0.410] (41 / 1)" in md
  assert "mean +0.400, range +0.360 to +0.440" in md
  assert os.path.getsize(tmp_path / "seeds.png") > 1000
