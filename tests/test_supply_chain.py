"""The lock and the environment hold no known-compromised release and no unexpected start-up hook;
every container image is pinned by digest, and every tool installed outside the lock by hash."""

from __future__ import annotations

import os
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
    "_editable_impl_oo_simulators.pth",
}

# A reference Docker resolves to exact content: a tag for people and update bots, then the digest.
PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*@sha256:[0-9a-f]{64}$")
# Images without a public record of their digests; infra/README.md says how to pin the one deployed.
UNPINNED_BY_DESIGN = {"ollama/ollama"}
SKIPPED_DIRS = {"node_modules", "__pycache__", "test-artifacts", "build", "dist"}

SHA256 = re.compile(r"^[0-9a-f]{64}$")
# PyPI's sha256 of every file of the pinned LiteLLM release, by file name after "litellm-<release>",
# recorded when it was pinned: it ships a compiled extension, hence seven abi3 wheels besides the sdist
# (infra/README.md).
LITELLM_RELEASE = "1.108.7"
LITELLM_FILES = {
    "-cp310-abi3-manylinux_2_28_x86_64.whl": "0c8a062e285b793b110a44bae485a2beb83c21381a9e4c62001547f296b0e5af",
    "-cp310-abi3-manylinux_2_28_aarch64.whl": "a277aff1f051370b5990c4f1d2fa5710b996e8d8a3f53fa056f69bcd61270808",
    "-cp310-abi3-musllinux_1_2_x86_64.whl": "3d198e43df143838af9ac02793827a6b087f104933528f3a3eae610d91ce8345",
    "-cp310-abi3-musllinux_1_2_aarch64.whl": "f6858e64db89720c52f1f58e625f13eff16f5795653abe8de81a91f50bd1b4bb",
    "-cp310-abi3-macosx_10_12_x86_64.whl": "7a1c1e5f389074a920fafc47320b8d0956e6b3e3df84001480faafd28ea5c718",
    "-cp310-abi3-macosx_11_0_arm64.whl": "4071980853bd338b81b9dd06c988c3dca96e0bf9cc52fc61331b0d890037226f",
    "-cp310-abi3-win_amd64.whl": "db4afc2e09e0250082c7e846b1769386d69a1eb2e36ad1168571efae3d6b3574",
    ".tar.gz": "3646463c77ca780a29df9dfa4959ed04a7710063b25c4b87ebf749c109addeb1",
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


def _repo_files() -> list[Path]:
    found: list[Path] = []
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in SKIPPED_DIRS]
        found.extend(Path(directory, name) for name in files)
    return found


def _image_references() -> dict[str, list[str]]:
    """Every image a Dockerfile builds FROM or a compose/YAML file runs, by the file that names it."""
    references: dict[str, list[str]] = {}
    for path in _repo_files():
        if path.name.startswith(("Dockerfile", "Containerfile")) or path.suffix == ".Dockerfile":
            stages: set[str] = set()
            for line in path.read_text().splitlines():
                words = line.split("#", 1)[0].split()
                if not words or words[0].upper() != "FROM":
                    continue
                args = [w for w in words[1:] if not w.startswith("--")]
                if len(args) >= 3 and args[1].upper() == "AS":
                    stages.add(args[2])
                if args[0] not in stages and args[0] != "scratch":
                    references.setdefault(str(path.relative_to(ROOT)), []).append(args[0])
        elif path.suffix in {".yaml", ".yml"}:
            for line in path.read_text().splitlines():
                if match := re.match(r"^\s*(?:-\s*)?image:\s*([^#\s]+)", line):
                    references.setdefault(str(path.relative_to(ROOT)), []).append(match.group(1).strip("'\""))
    return references


def test_every_container_image_is_pinned_by_digest():
    references = _image_references()
    assert {"infra/compose.yaml", "infra/Dockerfile", "infra/litellm/Dockerfile"} <= set(references)
    unpinned = {
        (file, image)
        for file, images in references.items()
        for image in images
        if not PINNED_IMAGE.match(image) and image not in UNPINNED_BY_DESIGN
    }
    assert unpinned == set(), "pin as name:tag@sha256:<digest> and record its source in infra/README.md"


def test_every_unpinned_exception_is_still_in_use():
    """An exception outlives its reason silently; once the image is pinned or gone, drop it here."""
    named = {image for images in _image_references().values() for image in images}
    assert named >= UNPINNED_BY_DESIGN


def _requirements(path: Path) -> dict[str, tuple[str, set[str]]]:
    """A hashed requirements file as {name: (version, sha256 hashes)}."""
    pins = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        words = line.split("#", 1)[0].split()
        if words and "==" in words[0]:
            name, version = words[0].split("==")
            hashes = {w.removeprefix("--hash=sha256:") for w in words[1:] if w.startswith("--hash=sha256:")}
            pins[name.split("[")[0].lower()] = (version, hashes)
    return pins


def _shell_lines(path: Path) -> list[str]:
    """A script's or Dockerfile's commands, one a line: continued lines joined, indentation dropped."""
    return [" ".join(line.split()) for line in path.read_text().replace("\\\n", " ").splitlines()]


def test_uv_comes_from_one_hash_pinned_file():
    pins = _requirements(ROOT / "infra" / "uv" / "requirements.txt")
    assert set(pins) == {"uv"}
    version, hashes = pins["uv"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert hashes
    assert all(SHA256.match(h) for h in hashes)
    # Wheels only as well: pip builds an sdist with build requirements it fetches without hashes.
    setup = _shell_lines(ROOT / "scripts" / "setup")
    assert "UV_REQUIREMENTS=infra/uv/requirements.txt" in setup
    assert any(
        re.search(r'pip install .*--only-binary :all: --require-hashes -r "\$UV_REQUIREMENTS"', x) for x in setup
    )
    assert not any(re.match(r"UV_VERSION=\d", x) for x in setup), "the version is read from the requirements file"
    dockerfile = _shell_lines(ROOT / "infra" / "Dockerfile")
    assert "COPY infra/uv/requirements.txt /tmp/uv-requirements.txt" in dockerfile
    assert (
        "RUN pip install --no-cache-dir --only-binary :all: --require-hashes -r /tmp/uv-requirements.txt" in dockerfile
    )


def test_every_pip_install_in_scripts_and_images_requires_hashes():
    """Anything installed outside uv.lock, by a script or an image build, is checked against hashes."""
    sources = [p for p in _repo_files() if p.parent.name == "scripts" or p.name.startswith("Dockerfile")]
    unhashed = [
        f"{path.relative_to(ROOT)}: {line}"
        for path in sources
        for line in _shell_lines(path)
        if re.search(r"\bpip3? install\b", line) and not re.search(r"--require-hashes .*-r ", line)
    ]
    assert unhashed == []


def test_litellm_hashes_are_exactly_the_files_of_the_release():
    """No hash in the proxy's requirements that is not one of the release's published files, none missing."""
    version, hashes = _requirements(ROOT / "infra" / "litellm" / "requirements.txt")["litellm"]
    assert version == LITELLM_RELEASE, "record the new release's files in LITELLM_FILES"
    assert hashes == set(LITELLM_FILES.values())
