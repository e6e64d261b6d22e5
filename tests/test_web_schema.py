"""The API tells the truth: Schemathesis, every check, against the site in this process.

Requests the OpenAPI document allows must be accepted (or answer 404/409/429 for state), the
ones it refuses must be refused, every status and body must be the declared one
({"detail": "..."} for every error), and 405's Allow header must name the path's methods.
The run is seeded and derandomized, with a few examples per operation (about 10 s on 2
busy cores).
Nothing is skipped: uploads are tiny PNGs, so /api/stylize runs its model on at most
40x40 px, and jobs are queued but not run (no workers)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("huey")
pytest.importorskip("schemathesis")

import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from fastnst.web.app import create_app
from fastnst.web.web_config import WebConfig

EXAMPLES = 10  # per operation: the 0.2 schema's findings (all five kinds) showed within 5


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def form_refuses(document: dict[str, Any], case: Any) -> bool:
    """Whether the text fields of a multipart case break the form's schema. Schemathesis
    4.32 labels one coverage case schema-valid that is not: where a form has an encoded
    file part, it fills the other required fields with "" (a style name must match a
    pattern)."""
    if not isinstance(case.body, dict):
        return False
    operation = document["paths"][case.operation.path][case.method.lower()]
    form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
    if form is None:
        return False
    schema = form["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    files = set(form.get("encoding", {}))
    text = {"properties": {k: v for k, v in schema["properties"].items() if k not in files},
            "required": [name for name in schema.get("required", []) if name not in files]}
    validator = case.operation.schema.adapter.jsonschema_validator_cls(text)
    return not validator.is_valid(
        {k: v for k, v in case.body.items() if k not in files})


def test_the_site_does_what_its_openapi_document_says(tmp_path: Path) -> None:
    # An SMTP host, so that e-mail addresses are taken (no job runs, so none is sent).
    config = WebConfig(data_dir=str(tmp_path / "data"), workers=0, max_side=64,
                       stylize_per_minute=100_000, smtp_host="localhost")
    app = create_app(config, start_workers=False)
    document = app.openapi()
    # Uploads the schema allows are images (its encoding names image/png among others).
    schemathesis.openapi.media_type(
        "image/png", st.tuples(st.integers(1, 40), st.integers(1, 40)).map(png))
    settings = SchemathesisConfig.from_dict({
        "seed": 1, "checks": {"enabled": True},
        "generation": {"max-examples": EXAMPLES, "deterministic": True}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=settings)

    @schema.hook
    def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
        return not (failure.code == "ST202" and form_refuses(document, case))

    findings, checked = [], set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            findings.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.ScenarioFinished):
            for case_id, results in event.recorder.checks.items():
                for result in results:
                    checked.add(result.name)
                    if result.failure_info is not None:
                        case = event.recorder.cases[case_id].value
                        findings.append(f"{case.method} {case.formatted_path}: "
                                        f"{result.failure_info.failure.title}: "
                                        f"{result.failure_info.failure.message}")
    assert not findings, "\n\n".join(findings)
    assert {"positive_data_acceptance", "negative_data_rejection", "status_code_conformance",
            "response_schema_conformance", "not_a_server_error"} <= checked


def test_errors_have_one_shape_and_405_names_every_method(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(WebConfig(data_dir=str(tmp_path / "data"), workers=0),
                                   start_workers=False))
    document = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorDetail"}
    assert client.options("/api/gallery").headers["allow"] == "GET, POST"
    assert client.options("/api/jobs/AAAAAAAAAAAAAAAA").headers["allow"] == "DELETE, GET"
    assert client.options("/api/jobs/train").headers["allow"] == "POST"
    bad_page = client.get("/api/gallery", params={"page": "0"})
    assert bad_page.status_code == 422 and bad_page.json() == {
        "detail": "page: Input should be greater than or equal to 1"}
