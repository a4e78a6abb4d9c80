"""Serves the page (apps/web) and its browser client (packages/sdk/js): a fixed list of files, no
directory listing, each with a strict Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "apps" / "web"
SDK_JS_DIR = ROOT / "packages" / "sdk" / "js"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; manifest-src 'self'; worker-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# url path → (file, media type). The service worker must come from the root to control the page.
FILES = {
    "/": (WEB_DIR / "index.html", "text/html; charset=utf-8"),
    "/face.css": (WEB_DIR / "face.css", "text/css; charset=utf-8"),
    "/face.js": (WEB_DIR / "face.js", "text/javascript; charset=utf-8"),
    "/settings.js": (WEB_DIR / "settings.js", "text/javascript; charset=utf-8"),
    "/time.js": (WEB_DIR / "time.js", "text/javascript; charset=utf-8"),
    "/quickadd.js": (WEB_DIR / "quickadd.js", "text/javascript; charset=utf-8"),
    "/connections.js": (WEB_DIR / "connections.js", "text/javascript; charset=utf-8"),
    "/calendars.js": (WEB_DIR / "calendars.js", "text/javascript; charset=utf-8"),
    "/firstrun.js": (WEB_DIR / "firstrun.js", "text/javascript; charset=utf-8"),
    "/knows.js": (WEB_DIR / "knows.js", "text/javascript; charset=utf-8"),
    "/signin.js": (WEB_DIR / "signin.js", "text/javascript; charset=utf-8"),
    "/sessions.js": (WEB_DIR / "sessions.js", "text/javascript; charset=utf-8"),
    "/sw.js": (WEB_DIR / "sw.js", "text/javascript; charset=utf-8"),
    "/admin": (WEB_DIR / "admin.html", "text/html; charset=utf-8"),
    "/admin.js": (WEB_DIR / "admin.js", "text/javascript; charset=utf-8"),
    "/manifest.webmanifest": (WEB_DIR / "manifest.webmanifest", "application/manifest+json"),
    "/icon.svg": (WEB_DIR / "icon.svg", "image/svg+xml"),
    "/icon-192.png": (WEB_DIR / "icon-192.png", "image/png"),
    "/icon-512.png": (WEB_DIR / "icon-512.png", "image/png"),
    "/sdk/oo-client.js": (SDK_JS_DIR / "oo-client.js", "text/javascript; charset=utf-8"),
}
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time: a new version of the page shows at once (the files are tiny, and
    # FileResponse's ETag makes the revalidation a 304).
    "Cache-Control": "no-cache",
}


def web_router(files: dict[str, tuple[Path, str]] | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for url, (path, media_type) in (files or FILES).items():
        router.add_api_route(url, _serve(path, media_type), methods=["GET", "HEAD"])
    return router


def _serve(path: Path, media_type: str) -> Callable[[], Awaitable[FileResponse]]:
    async def serve() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers=HEADERS)

    return serve
