"""The policy the product runs: the engine serves it and oO-bench reports it, from this one place."""

from __future__ import annotations

from ml.experiments.linear_thompson import LinearThompson

PRODUCT_POLICY = LinearThompson()
