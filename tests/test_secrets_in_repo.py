"""No secret in the repository or the image's build context (reference/security.md E05): no committed
file is a secret's file or holds a private key, a vault keyring, a sealed value or a personal token,
and the build context leaves out env files and the data directory's keys wherever they lie."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]
SECRET_FILES = (".env", ".env.*", "vault-keyring.json", "*.key", "*.sqlite3", "*.sqlite3-*")
SECRET_TEXT = {
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a vault keyring": re.compile(r'"keys"\s*:\s*\{\s*"[A-Za-z0-9_-]+"\s*:\s*"[A-Za-z0-9+/]{43}="'),
    "a sealed value": re.compile(r"\bv1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{40,}"),
    "a personal API token": re.compile(r"oo_pat_[0-9a-f]{16}_[A-Za-z0-9_-]{43}"),
}
BUILD_CONTEXT_LEAVES_OUT = {"**/.env", "**/.env.*", "**/vault-keyring.json", "**/*.key", ".oo-data/", ".env.local"}


def committed_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_committed_file_is_or_holds_a_secret():
    files = committed_files()
    assert len(files) > 100, "not a checkout of the repository"
    named = [str(p.relative_to(ROOT)) for p in files if any(fnmatch.fnmatch(p.name, g) for g in SECRET_FILES)]
    assert named == []
    found = []
    for path in files:
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary (images, fonts), or deleted in the working tree
        found += [(str(path.relative_to(ROOT)), what) for what, pattern in SECRET_TEXT.items() if pattern.search(text)]
    assert found == []


def test_the_image_build_context_leaves_out_env_files_and_keys():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert ignored >= BUILD_CONTEXT_LEAVES_OUT
