"""The compose files render, by a Compose implementation, into the topology each layer promises: every
service in a profile, every process with /ready probed, every pointer (OO_ML_URL, NATS_URL, LITELLM_URL,
MLFLOW_TRACKING_URI) at a service that is there, and no secret written into a file.

podman-compose renders them (`config`) without an engine; it does not check what Docker Compose checks
after merging (a service with neither image nor build, a dependency on a service that is not on), so
those checks are made here on what it rendered."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
INFRA = ROOT / "infra"
COMPOSE_FILES = sorted(INFRA.glob("compose*.yaml"))

# The values an operator puts in infra/.env (or the environment): dummies here.
SECRETS = {
    "OO_RECEIPT_KEY": "dummy-receipt-key",
    "OO_VAULT_KEYRING": '{"current": "k1", "keys": {"k1": "ZHVtbXk="}}',
    "OO_OIDC_PROVIDERS": '{"google": {"client_id": "dummy", "client_secret": "dummy"}}',
    "LITELLM_MASTER_KEY": "dummy-master-key",
}
BASE = ["postgres", "nats", "api", "worker"]
# Each case: the files, the profiles, the services that must come out.
LAYERS: dict[str, tuple[list[str], list[str], set[str]]] = {
    "core": (["compose.yaml"], ["core"], {*BASE}),
    "full": (["compose.yaml", "compose.full.yaml"], ["full"], {*BASE, "ml"}),
    "mlops": (["compose.yaml", "compose.mlops.yaml"], ["mlops"], {*BASE, "mlflow"}),
    "ai": (
        ["compose.yaml", "compose.full.yaml", "compose.ai.yaml"],
        ["ai"],
        {*BASE, "ml", "litellm", "ollama"},
    ),
    "full+ai": (
        ["compose.yaml", "compose.full.yaml", "compose.ai.yaml"],
        ["full", "ai"],
        {*BASE, "ml", "litellm", "ollama"},
    ),
    "full+ai+mlops": (
        ["compose.yaml", "compose.full.yaml", "compose.ai.yaml", "compose.mlops.yaml"],
        ["full", "ai", "mlops"],
        {*BASE, "ml", "litellm", "ollama", "mlflow"},
    ),
}
# The processes of oO's image and the port `services/cli.py` serves /health and /ready on.
READY_PORTS = {"api": 8000, "worker": 8001, "ml": 8002}


def _podman_compose() -> str:
    tool = shutil.which("podman-compose", path=str(Path(sys.executable).parent))
    if tool is None or shutil.which("podman") is None:
        pytest.fail("podman-compose or podman is missing: run ./scripts/setup --test")
    return tool


def _config(
    tmp_path: Path, files: list[str], profiles: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{name}='{value}'\n" for name, value in env.items()))
    command = [_podman_compose(), "--env-file", str(env_file)]
    for name in files:
        command += ["-f", str(INFRA / name)]
    for profile in profiles:
        command += ["--profile", profile]
    # Only what the tool needs from this machine: a developer's own OO_* or secrets must not fill a gap.
    clean = {name: os.environ[name] for name in ("PATH", "HOME", "XDG_RUNTIME_DIR") if name in os.environ}
    return subprocess.run(
        [*command, "config"], cwd=INFRA, env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def _render(tmp_path: Path, case: str) -> dict[str, dict[str, Any]]:
    files, profiles, _ = LAYERS[case]
    result = _config(tmp_path, files, profiles, SECRETS)
    assert result.returncode == 0, result.stderr
    services: dict[str, dict[str, Any]] = yaml.safe_load(result.stdout)["services"]
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {name: str(value) for name, value in environment.items()}


@pytest.mark.parametrize("case", LAYERS)
def test_every_layer_renders_a_whole_topology(tmp_path, case):
    services = _render(tmp_path, case)
    assert set(services) == LAYERS[case][2]
    for name, service in services.items():
        assert service.get("profiles"), f"{name} has no profile"
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on {dependency}, which is not on"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health"


@pytest.mark.parametrize("case", LAYERS)
def test_every_process_with_a_readiness_endpoint_is_probed_on_it(tmp_path, case):
    services = _render(tmp_path, case)
    probed = {name: port for name, port in READY_PORTS.items() if name in services}
    assert {"api", "worker"} <= set(probed)
    for name, port in probed.items():
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/ready" in test
        assert str(port) in services[name]["command"]
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"


@pytest.mark.parametrize("case", LAYERS)
def test_the_worker_runs_the_jobs_and_the_api_only_defers_them(tmp_path, case):
    services = _render(tmp_path, case)
    assert services["api"]["command"][:3] == ["oo", "serve", "--no-jobs"]
    assert services["worker"]["command"][:2] == ["oo", "worker"]


@pytest.mark.parametrize("case", LAYERS)
def test_the_api_and_the_worker_reach_nats(tmp_path, case):
    services = _render(tmp_path, case)
    for name in ("api", "worker"):
        assert _environment(services[name])["NATS_URL"] == "nats://nats:4222"


def test_core_runs_ml_in_the_api(tmp_path):
    services = _render(tmp_path, "core")
    assert "OO_ML_URL" not in _environment(services["api"])
    assert "LITELLM_URL" not in _environment(services["api"])


@pytest.mark.parametrize("case", ["full", "ai", "full+ai", "full+ai+mlops"])
def test_the_api_calls_the_one_sidecar(tmp_path, case):
    services = _render(tmp_path, case)
    assert _environment(services["api"])["OO_ML_URL"] == "http://ml:8002"
    assert services["api"]["depends_on"]["ml"]["condition"] == "service_healthy"
    assert [name for name, service in services.items() if "ml" in service.get("command", [])] == ["ml"]


def test_without_the_ai_layer_the_sidecar_has_no_llm(tmp_path):
    services = _render(tmp_path, "full")
    assert "LITELLM_URL" not in _environment(services["ml"])
    assert "OO_LLM_TIPS" not in _environment(services["api"])


@pytest.mark.parametrize("case", ["ai", "full+ai", "full+ai+mlops"])
def test_the_sidecar_asks_the_proxy(tmp_path, case):
    services = _render(tmp_path, case)
    ml = _environment(services["ml"])
    assert ml["LITELLM_URL"] == "http://litellm:4000"
    assert ml["LITELLM_API_KEY"] == SECRETS["LITELLM_MASTER_KEY"]
    assert _environment(services["litellm"])["LITELLM_MASTER_KEY"] == SECRETS["LITELLM_MASTER_KEY"]
    assert _environment(services["api"])["OO_LLM_TIPS"] == "true"
    assert services["ml"]["depends_on"]["litellm"]["condition"] == "service_healthy"


@pytest.mark.parametrize("case", ["mlops", "full+ai+mlops"])
def test_the_registry_clients_find_mlflow(tmp_path, case):
    services = _render(tmp_path, case)
    for name in ("api", "worker"):
        assert _environment(services[name])["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "--port=5000" in services["mlflow"]["command"]
    assert "healthcheck" in services["mlflow"]
    # The admin's viewer links out to the UI where the operator's browser reaches it (the published port).
    assert _environment(services["api"])["OO_EVENTS_MLFLOW_UI_URL"] == "http://127.0.0.1:5000"


def test_without_the_mlops_layer_nothing_points_at_mlflow(tmp_path):
    services = _render(tmp_path, "full+ai")
    assert all("MLFLOW_TRACKING_URI" not in _environment(service) for service in services.values())


def test_the_ai_layer_without_the_full_layer_is_no_topology(tmp_path):
    """compose.ai.yaml adds to the sidecar that compose.full.yaml defines; alone it leaves half a service."""
    result = _config(tmp_path, ["compose.yaml", "compose.ai.yaml"], ["ai"], SECRETS)
    assert result.returncode == 0, result.stderr
    ml = yaml.safe_load(result.stdout)["services"]["ml"]
    assert "image" not in ml
    assert "build" not in ml


@pytest.mark.parametrize(
    ("case", "secret"),
    [
        ("core", "OO_RECEIPT_KEY"),
        ("core", "OO_VAULT_KEYRING"),
        ("core", "OO_OIDC_PROVIDERS"),
        ("ai", "LITELLM_MASTER_KEY"),
    ],
)
def test_a_missing_secret_stops_config_and_is_named(tmp_path, case, secret):
    files, profiles, _ = LAYERS[case]
    result = _config(tmp_path, files, profiles, {k: v for k, v in SECRETS.items() if k != secret})
    assert result.returncode != 0
    assert secret in result.stderr + result.stdout


def test_the_core_layer_does_not_ask_for_the_other_layers_secrets(tmp_path):
    result = _config(tmp_path, *LAYERS["core"][:2], {k: v for k, v in SECRETS.items() if k != "LITELLM_MASTER_KEY"})
    assert result.returncode == 0, result.stderr


# A variable named like this holds a secret (OO_OIDC_PROVIDERS holds the providers' client secrets).
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|KEYRING|CREDENTIAL|OIDC_PROVIDERS")
# `${NAME}`, `${NAME:?message}` / `${NAME?message}`, or `${NAME:-}` with an empty default: never a value.
INTERPOLATION = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(?:(?::?\?[^}]*)|(?::?-))?\}$")


def _raw_services() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in COMPOSE_FILES:
        document = yaml.safe_load(path.read_text())
        for name, service in (document.get("services") or {}).items():
            found.append((path.name, name, service))
    return found


def test_there_are_compose_files_to_check():
    assert {path.name for path in COMPOSE_FILES} == {
        "compose.yaml",
        "compose.full.yaml",
        "compose.ai.yaml",
        "compose.mlops.yaml",
    }


def test_no_secret_is_written_in_a_compose_file():
    written = []
    for file, name, service in _raw_services():
        environment = service.get("environment") or {}
        pairs = (
            [item.split("=", 1) if "=" in item else (item, None) for item in environment]
            if isinstance(environment, list)
            else list(environment.items())
        )
        for variable, value in pairs:
            if SECRET_NAME.search(variable) and value is not None and not INTERPOLATION.match(str(value)):
                written.append(f"{file}: {name}.{variable}")
    assert written == []


def test_env_files_named_in_compose_are_kept_out_of_git_and_images():
    named = []
    for _, _, service in _raw_services():
        entries = service.get("env_file") or []
        for entry in entries if isinstance(entries, list) else [entries]:
            named.append(entry["path"] if isinstance(entry, dict) else entry)
    assert named
    for path in named:
        assert Path(path).name.startswith(".env"), f"{path}: gitignored and dockerignored as .env*"
    tracked = subprocess.run(["git", "ls-files", "infra"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert not [line for line in tracked.stdout.splitlines() if Path(line).name.startswith(".env")]
