"""The JSON Schema of a run folder: run.json and each line of samples.jsonl, for tools outside evalkit.

Generated from the models that read and write them (evalkit.manifest.RunManifest and
evalkit.records.SampleRecord): `python -m evalkit.schemas` writes them here, and a test fails when
a model changes and these files do not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent


def generated() -> dict[str, dict[str, Any]]:
    """File name -> the schema the models give today."""
    from evalkit.manifest import RUN_FORMAT, RunManifest
    from evalkit.records import SampleRecord

    schemas = {"run-manifest.schema.json": RunManifest.model_json_schema(),
               "sample-record.schema.json": SampleRecord.model_json_schema()}
    for name, schema in schemas.items():
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$comment"] = f"evalkit run folder format {RUN_FORMAT}: {name}"
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
