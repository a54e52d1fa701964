"""The RL tutorial's claims, read off a study's runs: one row each, with the
measured number, its interval across seeds and a verdict.

A row needs the variants it compares in the study; a row whose variants are
missing is left out. Verdicts: "holds" (the interval lies on the claimed
side of 0), "does not hold" (it lies on the other side, or inside the
equivalence margin when the claim is a difference), "partly" (some cells
hold and some not), "inconclusive" (the interval straddles 0).
"""

import numpy as np

from reasoning_jax.experiments import stats


def _by(runs, **where):
  return {
      r["seed"]: r for r in runs if all(r.get(k) == v for k, v in where.items())
  }


def _paired(a: dict, b: dict, fn) -> dict | None:
  """Across seeds of fn(a[seed]) − fn(b[seed]) over the shared seeds."""
  seeds = sorted(set(a) & set(b))
  if not seeds:
    return None
  d = [fn(a[s]) - fn(b[s]) for s in seeds]
  d = [x for x in d if np.isfinite(x)]
  return stats.across_seeds(d) if d else None


def _side(ci, margin: float | None = None) -> str:
  lo, hi = ci
  if not (np.isfinite(lo) and np.isfinite(hi)):
    return "inconclusive"
  if lo > 0:
    return "holds"
  if hi < 0 or (margin is not None and -margin <= lo and hi <= margin):
    return "does not hold"
  return "inconclusive"


def _combine(verdicts: list[str]) -> str:
  if not verdicts:
    return "not measured"
  if all(v == verdicts[0] for v in verdicts):
    return verdicts[0]
  return "partly" if "holds" in verdicts else "inconclusive"


def _row(claim, source, measured, verdict, **extra) -> dict:
  return {
      "claim": claim,
      "source": source,
      "measured": measured,
      "verdict": verdict,
      **extra,
  }


def sample_efficiency(runs, levels, regimes, margin) -> dict | None:
  """GRPO learns faster per sample than PPO: the dev curve's area (same
  steps and samples), GRPO − PPO, per (level, regime) cell."""
  cells, verdicts = {}, []
  for level in levels:
    for regime in regimes:
      g = _by(runs, variant="grpo", level=level, regime=regime)
      p = _by(runs, variant="ppo", level=level, regime=regime)
      d = _paired(g, p, lambda r: r["dev_auc"])
      if d is None:
        continue
      cells[f"{level}|{regime}"] = d
      verdicts.append(_side(d["ci95"], margin))
  if not cells:
    return None
  return _row(
      "GRPO is more sample-efficient than PPO",
      "DeepSeekMath (Shao et al. 2024); GRPO tutorials",
      cells,
      _combine(verdicts),
      metric="dev AUC, GRPO − PPO, same samples",
  )


def longer_chains(runs, levels, regimes) -> dict | None:
  """GRPO's edge over PPO grows with the length of the reasoning: per seed,
  (GRPO − PPO) test pass@1 on the longest chains minus on the shortest."""
  cells, verdicts = {}, []
  for level in levels:
    for regime in regimes:
      g = _by(runs, variant="grpo", level=level, regime=regime)
      p = _by(runs, variant="ppo", level=level, regime=regime)
      seeds = sorted(set(g) & set(p))
      if not seeds or not g[seeds[0]].get("by_difficulty"):
        continue
      keys = sorted(g[seeds[0]]["by_difficulty"], key=int)
      lo, hi = keys[0], keys[-1]
      diff = lambda r, k: r["by_difficulty"][k]  # pylint: disable=unnecessary-lambda-assignment
      d = [
          (diff(g[s], hi) - diff(p[s], hi)) - (diff(g[s], lo) - diff(p[s], lo))
          for s in seeds
      ]
      cells[f"{level}|{regime}"] = stats.across_seeds(d)
      verdicts.append(_side(cells[f"{level}|{regime}"]["ci95"]))
  if not cells:
    return None
  return _row(
      "GRPO is more stable than PPO as the chain of thought gets longer",
      "GRPO tutorials (a critic is hard to learn on long, sparse episodes)",
      cells,
      _combine(verdicts),
      metric=(
          "(GRPO − PPO) test pass@1 on the longest chains minus on the "
          "shortest, per seed"
      ),
  )


def variance_vs_group(probe) -> dict | None:
  """The gradient's variance falls as 1/G (log-slope −1 given the prompts)."""
  if not probe:
    return None
  fixed = probe["fixed_prompts"]["log_slope"]
  lo, hi = fixed["ci95"]
  if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi:
    verdict = "inconclusive"  # not even a fall is shown.
  elif lo <= -1 <= hi:
    verdict = "holds"
  elif hi < 0:
    verdict = "partly"  # falls with G, not as 1/G.
  else:
    verdict = "does not hold"
  return _row(
      "The policy gradient's variance falls as 1/G",
      "GRPO tutorials (group size)",
      {
          "fixed prompts": fixed,
          "fresh prompts": probe["fresh_prompts"]["log_slope"],
      },
      verdict,
      metric="log-slope of tr Cov[g] against log G (−1: 1/G)",
  )


def kl_tradeoff(runs, level, regime, margin) -> list[dict]:
  """A large KL beta cannot learn what the reference lacks; a tiny one
  moves further from it (and may collapse)."""
  base = _by(runs, variant="grpo", level=level, regime=regime)
  rows = []
  big = [v for v in {r["variant"] for r in runs} if "kl_beta" in v]
  for name in sorted(big):
    beta = float(name.rsplit("kl_beta_", 1)[-1].replace("_", "."))
    other = _by(runs, variant=name, level=level, regime=regime)
    gain = _paired(other, base, lambda r: r["gain"])
    kl = _paired(other, base, lambda r: r["kl"])
    if gain is None:
      continue
    base_beta = base[min(base)]["settings"]["kl_beta"] if base else 0.04
    if beta > base_beta:
      rows.append(
          _row(
              f"A large KL beta ({beta:g}) cannot learn new behaviour",
              "RLHF / GRPO tutorials",
              {"gain vs beta " + f"{base_beta:g}": gain, "KL": kl},
              _side([-gain["ci95"][1], -gain["ci95"][0]], margin),
              metric="gain over SFT, this beta − the reference's",
          )
      )
    else:  # KL is not computed at beta 0 (no reference pass): entropy.
      entropy = _paired(other, base, lambda r: r["entropy"])
      rows.append(
          _row(
              f"A tiny KL beta ({beta:g}) explores further from the "
              "reference, and may collapse",
              "RLHF / GRPO tutorials",
              {"gain vs beta " + f"{base_beta:g}": gain, "entropy": entropy},
              _side(entropy["ci95"]) if entropy else "not measured",
              metric=(
                  "policy entropy (late training), this beta − the "
                  "reference's; and the gain over SFT"
              ),
          )
      )
  return rows


def memory(runs) -> dict | None:
  """GRPO drops PPO's critic: its parameters + optimizer state are about
  half PPO's (the same for every seed: one ratio, no interval)."""
  g = [r["state_bytes"] for r in runs if r["variant"] == "grpo"]
  p = [r["state_bytes"] for r in runs if r["variant"] == "ppo"]
  if not (g and p and g[0] and p[0]):
    return None
  ratio = g[0] / p[0]
  return _row(
      "GRPO needs about half of PPO's training memory (no critic)",
      "DeepSeekMath (Shao et al. 2024)",
      {"GRPO / PPO": stats.across_seeds([ratio])},
      "holds" if 0.4 <= ratio <= 0.6 else "does not hold",
      metric=(
          "parameters + optimizer state, GRPO / PPO (activations not counted)"
      ),
  )


def claims(runs, out, probe=None) -> list[dict]:
  """Every row the study's variants allow (module docstring)."""
  levels, regimes, margin = out["levels"], out["regimes"], out["margin"]
  rows = [
      sample_efficiency(runs, levels, regimes, margin),
      longer_chains(runs, levels, regimes),
      variance_vs_group(probe),
      memory(runs),
  ]
  rows += kl_tradeoff(runs, levels[0], regimes[0], margin)
  return [r for r in rows if r is not None]
