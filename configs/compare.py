r"""The RL algorithm study on ``chain``: variants over seeds, regimes and
exploration difficulty, from one command.

  python -m reasoning_jax.compare --config=configs/compare.py \
      --workdir=runs/study
  python -m reasoning_jax.compare --config=configs/compare.py:quick \
      --workdir=runs/study_quick

The cold start is the default job's (``configs/default.py``); the axis is
``sft.bare_share``, the share of short chains whose cold-start solution is a
bare answer: the larger, the rarer a thinking sample on a short chain, the
harder exploration. RL is shorter than the default job's (40 steps, each
algorithm at the learning rate ``:lr_sweep`` chose on dev) and evaluates
the dev split every 10 steps; the variants are the seven algorithms as
published and two baselines without RL (``prefill``, ``rs``). About 5-6
hours on a 2-core CPU; it resumes from its records, so a level or a regime
at a time (``--config.study.levels=0.7 --config.study.regimes=on_policy``)
adds up to it. Variants after a colon: ``quick`` (GRPO and PPO, two seeds,
one level), ``lr_sweep`` (each algorithm at three learning rates, on dev),
``claims`` (the tutorial's GRPO-vs-PPO claims: PPO with lambda 1, KL beta 0
and 0.4, the gradient-variance probe over G), ``smoke`` (seconds, for
tests).
"""

from reasoning_jax import config as config_lib

VARIANTS = ("quick", "lr_sweep", "claims", "smoke")
ALGORITHMS = ("grpo", "dr_grpo", "dapo", "gspo", "rloo", "reinforce_pp", "ppo")
# Each algorithm's learning rate, chosen on the dev split by ``:lr_sweep``
# (the dev curve's area over 40 steps, seeds 0 and 1, level 0.7, on-policy;
# 3e-5, 1e-4 and 3e-4 tried; 1e-4 had the largest area for every one of
# them): see README "Comparing RL algorithms".
LEARNING_RATES = dict.fromkeys(ALGORITHMS, 1e-4)


def get_config(arg: str | None = None):
  c = config_lib.sibling_config(__file__, "default").get_config()
  c.rl.update(steps=40, eval_every=10)
  c.eval.update(num_problems=1024, periodic_problems=128)
  c.study.update(
      variants=",".join(ALGORITHMS + ("prefill", "rs")),
      learning_rates=",".join(f"{a}={lr}" for a, lr in LEARNING_RATES.items()),
      regimes="on_policy,off_policy",
      axis="sft.bare_share",
      levels="0.7,0.9,0.97",
      seeds="0,1,2,3,4",
      reference="grpo",
      threshold=0.7,
      margin=0.03,
      passk_problems=64,
      passk_n=16,
  )
  variants = config_lib.variants(arg, VARIANTS)
  if "lr_sweep" in variants:
    c.study.update(
        name="lr_sweep",
        variants=",".join(
            f"{a}@rl.learning_rate={lr}"
            for a in ALGORITHMS
            for lr in ("3e-05", "0.0001", "0.0003")
        ),
        learning_rates="",
        regimes="on_policy",
        levels="0.7",
        seeds="0,1",
        reference="grpo@rl.learning_rate=3e-05",
    )
  if "claims" in variants:  # the tutorial's GRPO-vs-PPO claims.
    c.study.update(
        name="claims",
        variants=(
            "grpo,ppo,ppo@rl.lam=1.0,grpo@rl.kl_beta=0.0,grpo@rl.kl_beta=0.4"
        ),
        regimes="on_policy",
        levels="0.7",
        probe_group_sizes="2,4,8,16",
    )
  if "quick" in variants:
    c.rl.update(steps=30)
    c.eval.update(num_problems=512, periodic_problems=64)
    c.study.update(
        name="quick",
        variants="grpo,ppo",
        regimes="on_policy",
        levels="0.7",
        seeds="0,1",
        passk_problems=32,
        passk_n=8,
    )
  if "smoke" in variants:
    config_lib.smoke(c)
    c.data.max_new_tokens = 64
    c.rl.eval_every = 2
    c.study.update(
        variants="grpo,ppo@rl.lam=1.0,prefill,rs",
        reference="grpo",
        regimes="off_policy",  # on-policy: notebooks/02 runs it.
        levels="0.7",
        seeds="0,1",
        passk_problems=8,
        passk_n=4,
        probe_group_sizes="2,4",
        probe_prompts=2,
        probe_repeats=3,
    )
  return c
