"""What the entrypoints run and write beyond training a policy: the
statistics of held-out results (``stats``), the per-run and per-seed
reports, the verifier evaluation and the test-time reports, and the
test-time search experiments. Above ``train/`` (it may import any lower
floor); below the entrypoints."""
