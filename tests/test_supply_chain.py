"""The lock and the environment hold no known-compromised release and no unexpected start-up hook."""

from __future__ import annotations

import re
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).parents[1]
COMPROMISED = {("litellm", "1.82.7"), ("litellm", "1.82.8")}
# .pth files run code at every interpreter start; only these may exist in our environment.
EXPECTED_PTH = {
    "_virtualenv.pth",
    "distutils-precedence.pth",
    "_oo_server.pth",
    "_oo_ml.pth",
    "_editable_impl_oo_contracts.pth",
    "_editable_impl_oo_sdk.pth",
}


def _lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def test_lock_has_a_cooldown():
    options = _lock().get("options", {})
    assert "exclude-newer" in options, "uv.lock must be resolved with [tool.uv] exclude-newer"


def test_lock_holds_no_compromised_release():
    locked = {(package["name"], package.get("version")) for package in _lock()["package"]}
    assert not (locked & COMPROMISED)


def test_every_downloaded_package_is_pinned_by_hash():
    unhashed = []
    for package in _lock()["package"]:
        source = package.get("source", {})
        if "registry" not in source:
            continue  # our own workspace members
        artifacts = [package.get("sdist", {}), *package.get("wheels", [])]
        if not any(a.get("hash", "").startswith("sha256:") for a in artifacts if a):
            unhashed.append(package["name"])
    assert unhashed == []


def test_installed_environment_holds_no_compromised_release():
    installed = {(d.metadata["Name"].lower(), d.version) for d in metadata.distributions()}
    assert not (installed & COMPROMISED)


def test_no_unexpected_pth_files():
    site = Path(sysconfig.get_paths()["purelib"])
    found = {path.name for path in site.glob("*.pth")}
    assert found <= EXPECTED_PTH, f"unexpected .pth files: {sorted(found - EXPECTED_PTH)}"


def test_the_litellm_tool_env_is_pinned_by_hash_and_clean():
    """The proxy's own environment (.tools/litellm) installs from this file with --require-hashes."""
    text = (ROOT / "infra" / "litellm" / "requirements.txt").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 3)[3])  # one block per pinned package
    pins = {tuple(block.split(" ")[0].split("==")) for block in blocks if "==" in block}
    assert ("litellm", "1.108.7") in pins
    assert not (pins & COMPROMISED)
    assert [b.split(" ")[0] for b in blocks if "==" in b and "--hash=sha256:" not in b] == []
    assert "--exclude-newer" in text.splitlines()[1], "compiled with a cooldown"
