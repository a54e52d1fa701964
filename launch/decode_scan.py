r"""What bounds decoding: rollout time over batch × new tokens × loop settings.

  python launch/decode_scan.py --config=configs/bench.py:qwen05b \
      --out=runs/decode_scan [--settings=256x512,256x512:chunk16,8x128]

One process, one parameter init, the model of ``--config`` (prompts of
``data.max_prompt_len`` tokens, ``rl.group_size`` samples each, exactly N new
tokens: no early stop). Each setting ``BxN[:opt...]`` compiles the sampler
and times ``--reps`` runs (median after one warm-up). Options: ``chunkK``
(``model.decode_chunk=K``: one host check per K tokens), ``einsum`` /
``reduce`` (``model.decode_scores``: one token's attention scores as batched
GEMMs or a fused multiply-sum) and ``greedy`` (argmax, no random draws: the
sampling share). Settings run in the order given until
``--budget_s`` is spent, and every finished one is written at once to
``scan.json`` and ``scan.md`` in ``--out``, so a run cut short keeps its rows.

Columns: seconds, new tokens/s, the roofline fraction (``bench``'s least
time: prefill at peak FLOP/s, decode at peak bytes/s), and ms per decode step
from two lengths of one batch: (t(N₂) − t(N₁)) / (N₂ − N₁), against the
bytes a step must read (bf16 weights + the live cache) at peak bandwidth.
At batch 8 the weights dominate those bytes, so a step far above its byte
time is per-step overhead (launches, host syncs), not bandwidth.
"""

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
import time

import flax.linen as nn
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from reasoning_jax import timing  # pylint: disable=g-import-not-at-top,wrong-import-position
from reasoning_jax.models import CausalLM  # pylint: disable=g-import-not-at-top,wrong-import-position
from reasoning_jax.models import flops
from reasoning_jax.models import ModelConfig
from reasoning_jax.sampling.sampler import make_sampler  # pylint: disable=g-import-not-at-top,wrong-import-position


def load_config(spec: str):
  path, _, arg = spec.partition(":")
  mod = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(mod)
  mod.loader.exec_module(module)
  return module.get_config(arg or None)


def parse(setting: str):
  """``"256x512:chunk16:greedy"`` -> (256, 512, {"chunk": 16, ...})."""
  shape, *opts = setting.split(":")
  b, n = (int(v) for v in shape.split("x"))
  o = {"chunk": 1, "greedy": False, "scores": "auto"}
  for opt in opts:
    if opt.startswith("chunk"):
      o["chunk"] = int(opt[5:])
    elif opt in ("einsum", "reduce"):
      o["scores"] = opt
    elif opt == "greedy":
      o["greedy"] = True
    else:
      raise ValueError(f"unknown option {opt!r} in {setting!r}")
  return b, n, o


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--config", default="configs/bench.py:qwen05b")
  ap.add_argument("--out", default="runs/decode_scan")
  ap.add_argument(
      "--settings",
      default=(
          "256x512,256x512:reduce,8x128,8x128:reduce,256x32,256x32:reduce,"
          "256x512:greedy,8x32,8x128:chunk16,256x512:chunk16"
      ),
  )
  ap.add_argument("--reps", type=int, default=3)
  ap.add_argument("--budget_s", type=float, default=300)
  ap.add_argument("--peak_flops", type=float, default=989e12)
  ap.add_argument("--peak_bandwidth", type=float, default=3.35e12)
  ap.add_argument("--label", default="")
  args = ap.parse_args()
  start = time.perf_counter()
  config = load_config(args.config)
  m, pl = config.model, config.data.max_prompt_len
  g = config.rl.group_size
  base = ModelConfig(**m.to_dict())
  dummy = np.ones((1, 8), np.int32)
  params = nn.unbox(
      jax.jit(
          lambda k: CausalLM(base).init(k, dummy, dummy, dummy > 0)["params"]
      )(jax.random.PRNGKey(0))
  )
  os.makedirs(args.out, exist_ok=True)
  device = f"{jax.device_count()} x {jax.devices()[0].device_kind}"
  rows, path = [], os.path.join(args.out, "scan.json")
  print(f"{device}: init {time.perf_counter() - start:.1f} s", flush=True)
  for setting in args.settings.split(","):
    if time.perf_counter() - start > args.budget_s:
      print(f"budget spent: {setting} and later skipped", flush=True)
      break
    b, n, o = parse(setting)
    cfg = dataclasses.replace(
        base, decode_chunk=o["chunk"], decode_scores=o["scores"]
    )
    fn = make_sampler(
        CausalLM(cfg),
        max_new_tokens=n,
        eos_id=-1,
        greedy=o["greedy"],
        group_size=g,
    )
    ids = np.random.default_rng(0).integers(3, m.vocab_size, (b // g, pl))
    ids = np.repeat(ids, g, 0).astype(np.int32)
    call = (params, ids, np.ones_like(ids, bool), jax.random.PRNGKey(1), 1.0)
    t0 = time.perf_counter()
    compiled = fn.lower(*call).compile()
    compile_s = time.perf_counter() - t0
    med, times = timing.median_time(
        lambda: jax.block_until_ready(compiled(*call)), 1, args.reps
    )
    roof = flops.rollout_roofline_s(
        m, b, pl, n, g, args.peak_flops, args.peak_bandwidth
    )
    step_bytes = flops.rollout_bytes(m, b, pl, n) / n
    row = dict(
        setting=setting,
        batch=b,
        new_tokens=n,
        **o,
        seconds=med,
        times=times,
        compile_s=compile_s,
        tok_per_s=b * n / med,
        roofline_fraction=roof / med,
        step_bytes_ms=1e3 * step_bytes / args.peak_bandwidth,
    )
    rows.append(row)
    print(
        json.dumps({k: v for k, v in row.items() if k != "times"}), flush=True
    )
    _write(args, device, rows, path)
  print(open(os.path.join(args.out, "scan.md")).read())


def _write(args, device, rows, path):
  """scan.json and scan.md, with ms per decode step from pairs of lengths."""
  by = {(r["batch"], r["chunk"], r["greedy"], r["new_tokens"]): r for r in rows}
  for r in rows:
    ns = sorted(
        k[3] for k in by if k[:3] == (r["batch"], r["chunk"], r["greedy"])
    )
    if len(ns) > 1 and r["new_tokens"] == ns[-1]:
      lo = by[(r["batch"], r["chunk"], r["greedy"], ns[0])]
      r["step_ms"] = 1e3 * (r["seconds"] - lo["seconds"]) / (ns[-1] - ns[0])
  with open(path, "w") as f:
    json.dump(
        {
            "device": device,
            "config": args.config,
            "label": args.label,
            "rows": rows,
        },
        f,
        indent=2,
    )
  lines = [
      f"{device}, {args.config} {args.label}\n",
      (
          "| setting | s | new tok/s | roofline | ms/step (from lengths) | "
          "ms/step at peak bytes | compile s |"
      ),
      "|---|---|---|---|---|---|---|",
  ]
  for r in rows:
    step = f"{r['step_ms']:.2f}" if "step_ms" in r else "–"
    lines.append(
        f"| {r['setting']} | {r['seconds']:.3f} | "
        f"{r['tok_per_s']:,.0f} | {r['roofline_fraction']:.1%} | "
        f"{step} | {r['step_bytes_ms']:.2f} | {r['compile_s']:.1f} |"
    )
  with open(os.path.join(args.out, "scan.md"), "w") as f:
    f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
  main()
