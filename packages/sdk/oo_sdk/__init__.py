"""Python client for the oO HTTP API."""

from oo_sdk.client import OoApiError, OoClient

__all__ = ["OoApiError", "OoClient"]
