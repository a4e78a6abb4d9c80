"""`/docs` in a real browser with no internet: Swagger UI renders every operation from files oO
serves itself, under the same Content-Security-Policy as the page, and asks nothing of any other host."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Route

from services.gateway.web import CONTENT_SECURITY_POLICY
from tests.page_harness import DESKTOP, Server, screenshot, until

LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


def test_the_docs_render_every_operation_offline_under_the_strict_policy(browser: Browser, server: Server) -> None:
    operations = [
        f"{method.upper()} {path}"
        for path, item in server.api.get("/openapi.json").json()["paths"].items()
        for method in item
    ]
    context = browser.new_context(viewport=DESKTOP)
    elsewhere: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: _keep_problems(message, console))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))

    response = page.goto(server.url + "/docs")
    assert response is not None
    assert response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    until(page, "n => document.querySelectorAll('.opblock-summary').length >= n", len(operations))
    shown = page.eval_on_selector_all(
        ".opblock-summary",
        "blocks => blocks.map(b => b.querySelector('.opblock-summary-method').textContent.trim() + ' '"
        " + b.querySelector('.opblock-summary-path').getAttribute('data-path'))",
    )
    screenshot(page, "api-docs")
    assert sorted(shown) == sorted(operations)
    assert console == []
    assert elsewhere == []
    context.close()


def _keep_problems(message: ConsoleMessage, into: list[str]) -> None:
    # A Content-Security-Policy violation is reported as a console error ("Refused to …").
    if message.type in ("error", "warning"):
        into.append(f"{message.type}: {message.text}")
