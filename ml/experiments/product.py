"""The policy the product runs: the engine serves it and oO-bench reports it, from this one place."""

from __future__ import annotations

from ml.experiments.linear_thompson import LinearThompson

# A new person's first decisions lean on the population prior (precision 8): at 2 the first tips' mass
# spread over candidates a friend would rank far apart. Chosen with bench.scenarios and the simulator's
# tuning users (bench/README.md has both); noise 0.3 still explores enough to learn each person.
PRODUCT_POLICY = LinearThompson(prior_precision=8.0, noise=0.3)
