"""oO ML: features, candidate generation and ranking, experiments, registry, pipelines.

Never imports `services`: the server reaches ML through ml/serving's interface only.
"""
