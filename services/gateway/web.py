"""Serves the page (apps/web) at `/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).resolve().parents[2] / "apps" / "web"


def web_router(web_dir: Path = WEB_DIR) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def page() -> FileResponse:
        return FileResponse(web_dir / "index.html", media_type="text/html; charset=utf-8")

    return router
