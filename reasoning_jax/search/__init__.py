"""Test-time scaling: voting, best-of-N, search, and their metrics."""
