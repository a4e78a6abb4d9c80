"""/health, /ready, /metrics, request ids and logs."""

from __future__ import annotations

import gc
import io
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from services.app import create_app
from services.bootstrap import bootstrap
from services.gateway.settings import GatewaySettings
from services.kernel.logging import configure_logging
from tests.conftest import LOOPBACK, bearer, empty_postgres_url, make_settings, new_user_with_token, secret_of
from tests.events_factory import checkin
from tests.postgres_cluster import free_port


async def test_health_and_ready(client: httpx.AsyncClient):
    assert (await client.get("/health")).json() == {"status": "ok", "checks": []}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == ["storage", "migrations"]


async def test_ready_is_503_until_migrations_are_at_head(tmp_path, backend, request):
    url = None
    if backend == "postgres":
        url = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
    settings = make_settings(tmp_path, url)
    settings.core.auto_migrate = False
    container = bootstrap(settings)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        response = await client.get("/ready")
    await container.database.dispose()
    assert response.status_code == 503
    assert [item["field"] for item in response.json()["error"]["items"]] == ["migrations"]


async def test_metrics_count_requests_by_route(client):
    await client.get("/health")
    text = (await client.get("/metrics")).text
    assert 'oo_http_requests_total{method="GET",route="/health",status="200"}' in text


@asynccontextmanager
async def serving(tmp_path: Path, **gateway: object) -> AsyncIterator[httpx.AsyncClient]:
    container = bootstrap(make_settings(tmp_path, None, **gateway))
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        yield client


@pytest.mark.parametrize(
    ("gateway", "status", "documented"),
    [
        ({}, 200, True),  # local mode: this machine only
        ({"metrics": "off"}, 404, False),
        ({"local_mode": False}, 404, False),  # a server's public port
        ({"local_mode": False, "metrics": "public"}, 200, True),
    ],
)
async def test_the_api_port_serves_metrics_as_oo_metrics_says(tmp_path, gateway, status, documented):
    async with serving(tmp_path, **gateway) as client:
        response = await client.get("/metrics")
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert response.status_code == status
    assert ("/metrics" in paths) is documented


async def test_metrics_get_a_listener_of_their_own_while_a_servers_port_serves_none(tmp_path):
    port = free_port()
    async with serving(tmp_path, local_mode=False, metrics_port=port) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/metrics")).status_code == 404
        async with httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
    assert scraped.status_code == 200
    assert 'oo_http_requests_total{method="GET",route="/health",status="200"} 1.0' in scraped.text
    async with httpx.AsyncClient() as scraper:
        with pytest.raises(httpx.ConnectError):  # stopped with the app
            await scraper.get(f"http://127.0.0.1:{port}/metrics")


def test_the_metrics_listener_may_not_take_the_apis_port():
    problem = GatewaySettings(port=8000, metrics_port=8000).bind_problem()
    assert problem == "OO_METRICS_PORT=8000 is the api's own port (OO_PORT): give the metrics another"


async def test_request_id_is_echoed_or_made(client):
    assert (await client.get("/health", headers={"X-Request-ID": "abc-123"})).headers["x-request-id"] == "abc-123"
    made = (await client.get("/health", headers={"X-Request-ID": "bad id\n"})).headers["x-request-id"]
    assert len(made) == 32


async def test_logs_are_json_with_the_request_id_and_never_a_token(client, container):
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        _, token = await new_user_with_token(container)
        await client.post("/v1/events", json={"events": [checkin()]}, headers={**bearer(token), "X-Request-ID": "r-1"})
        await client.get("/v1/me", headers=bearer(token + "x"))
        logging.getLogger("test").info("a token %s slipped into a message", token)
    finally:
        logging.getLogger().handlers = []
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(line.get("request_id") == "r-1" and line.get("route") == "/v1/events" for line in lines)
    assert secret_of(token) not in stream.getvalue()


async def test_unknown_route_gets_the_error_body(client):
    response = await client.get("/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_a_method_a_path_does_not_serve_is_a_405_naming_every_method_it_does(client):
    # Two modules serve /v1/me (GET in auth, DELETE in profile): the answer names both.
    response = await client.options("/v1/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, DELETE"
    assert response.json()["error"]["code"] == "method_not_allowed"
    paths = (await client.get("/openapi.json")).json()["paths"]
    templates = {path: re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$") for path in paths}
    for path in paths:
        url = re.sub(r"\{[^}]+\}", "x", path)
        refused = await client.options(url)  # no route serves OPTIONS
        assert refused.status_code == 405, path
        # Every documented path the URL matches serves it (`/v1/me/integrations/caldav` is also the generic
        # `/v1/me/integrations/{provider}`), and the answer names all their methods.
        served = {method.upper() for other, ops in paths.items() if templates[other].match(url) for method in ops}
        assert set(refused.headers["allow"].split(", ")) == served, path
    page = await client.delete("/")
    assert (page.status_code, page.headers["allow"]) == (405, "GET, HEAD")


async def test_storage_down_is_a_503_not_a_500(tmp_path):
    from tests.postgres_cluster import free_port

    port = free_port()
    settings = make_settings(tmp_path, f"postgresql://oo_role@127.0.0.1:{port}/nowhere")
    settings.core.auto_migrate = False
    container = bootstrap(settings)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        write = await client.post("/v1/events", json={"events": [checkin()]})
        ready = await client.get("/ready")
    await container.database.dispose()
    assert write.status_code == 503
    assert write.json()["error"]["code"] == "storage_unavailable"
    assert ready.status_code == 503
    # Said in words: `/ready` answers anyone, and the driver's text names the host, role and database.
    assert [(item["field"], item["problem"]) for item in ready.json()["error"]["items"]] == [
        ("storage", "the database cannot be reached"),
        ("migrations", "the database's schema version cannot be read"),
    ]
    for leak in ("127.0.0.1", str(port), "oo_role", "nowhere"):
        assert leak not in ready.text


async def test_start_up_puts_what_it_built_out_of_the_collectors_sight(tmp_path):
    gc.unfreeze()
    container = bootstrap(make_settings(tmp_path, None))
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
    await container.database.dispose()
    assert frozen > 0  # a full collection then walks only what serving made since


async def test_the_page_is_served_at_the_root(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<main" in response.text
    assert '<script type="module" src="/face.js">' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    for path, kind in [
        ("/face.js", "javascript"),
        ("/sdk/oo-client.js", "javascript"),
        ("/sw.js", "javascript"),
        ("/face.css", "css"),
        ("/manifest.webmanifest", "manifest"),
        ("/icon-192.png", "png"),
    ]:
        asset = await client.get(path)
        assert asset.status_code == 200, path
        assert kind in asset.headers["content-type"], path
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/README.md")).status_code == 404  # a fixed list: nothing else of the folder
