"""Python client for the oO HTTP API."""

from oo_sdk.client import MAX_ATTEMPTS, OoApiError, OoClient, OoRetriesExhausted

__all__ = ["MAX_ATTEMPTS", "OoApiError", "OoClient", "OoRetriesExhausted"]
