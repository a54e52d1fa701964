"""Verifiers: step labels (exact, Math-Shepherd), ORM / PRM, their metrics."""
