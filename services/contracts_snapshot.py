"""The committed contract files under packages/shared-types, generated from code.

`oo contracts --write` regenerates them; a test fails when code and committed files differ.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from oo_contracts.events import PAYLOAD_SCHEMAS, EventEnvelope
from oo_contracts.export import AccountExport

SHARED_TYPES = Path(__file__).resolve().parent.parent / "packages" / "shared-types"


def openapi_document() -> dict[str, Any]:
    from services.app import create_app
    from services.settings import load_settings

    # The document is the code's, whatever this machine's settings: built with the defaults (no
    # `OO_*` variable, no `.env.local`) against a throwaway data dir, touching nothing.
    saved = {name: value for name, value in os.environ.items() if name.startswith("OO_") or name == "DATABASE_URL"}
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as data_dir:
        for name in saved:
            del os.environ[name]
        os.environ["OO_DATA_DIR"] = data_dir
        os.chdir(data_dir)
        try:
            return create_app(load_settings()).openapi()
        finally:
            os.chdir(cwd)
            del os.environ["OO_DATA_DIR"]
            os.environ.update(saved)


def _events_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "oO events",
        "envelope": EventEnvelope.model_json_schema(),
        "payloads": {name: schema.model_json_schema() for name, schema in sorted(PAYLOAD_SCHEMAS.items())},
    }


def snapshot_files() -> dict[Path, str]:
    def render(document: dict[str, Any]) -> str:
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    return {
        SHARED_TYPES / "openapi.json": render(openapi_document()),
        SHARED_TYPES / "schemas" / "account-export.schema.json": render(AccountExport.model_json_schema()),
        SHARED_TYPES / "schemas" / "events.schema.json": render(_events_schema()),
    }
