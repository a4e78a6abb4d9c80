"""Simulators of providers oO cannot reach from a test machine, each following the provider's documented API."""
