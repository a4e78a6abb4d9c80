"""Serves `/docs`, Swagger UI on the api's own OpenAPI document, entirely from this machine.

The UI's script and stylesheet ship in the `fastapi-offline` package, so the docs work without
internet; the page and the script that starts the UI are ours, served as files, because the
Content-Security-Policy every served file carries allows no inline script.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter

from services.gateway.web import web_router

SWAGGER_DIR = Path(__file__).resolve().parent / "swagger"


def api_docs_router() -> APIRouter:
    assets = Path(str(files("fastapi_offline") / "static"))
    return web_router(
        {
            "/docs": (SWAGGER_DIR / "index.html", "text/html; charset=utf-8"),
            "/docs/start.js": (SWAGGER_DIR / "start.js", "text/javascript; charset=utf-8"),
            "/docs/swagger-ui-bundle.js": (assets / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
            "/docs/swagger-ui.css": (assets / "swagger-ui.css", "text/css; charset=utf-8"),
        }
    )
