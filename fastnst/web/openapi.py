"""The OpenAPI document (/openapi.json): FastAPI's, from the routes' declarations, plus what
only the running site knows (its styles, its --max-job-side and --max-iterations, whether it
sends e-mail) and what FastAPI cannot say of a multipart form. Generated request bodies that
the document allows are ones the site accepts; tests/test_web_schema.py checks that with
Schemathesis."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from fastnst.web.api import TRAINED_STYLE
from fastnst.web.web_config import WebConfig

# The image formats an upload may be sent as (the bytes decide: any format Pillow reads is
# taken; these are the ones browsers and cameras make).
IMAGE_MEDIA_TYPES = "image/png, image/jpeg, image/webp, image/gif"
# The e-mail field: empty, or an address in printable ASCII. The site takes any address EMAIL
# matches (surrounding spaces stripped); this is the part of that every regex engine reads
# alike (Python's \s has control characters that JavaScript's and Hypothesis' have not).
_ADDRESS_CHAR = "[!-;=?A-~]"  # printable ASCII but @ < >
EMAIL_OR_EMPTY = f"^({_ADDRESS_CHAR}+@{_ADDRESS_CHAR}+\\.{_ADDRESS_CHAR}+)?$"


def site_openapi(app: FastAPI, config: WebConfig, styles: list[str]) -> dict[str, Any]:
    """The app's OpenAPI document for this site's settings; `styles`: its own style names."""
    document = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes)
    for path_item in document["paths"].values():
        for operation in path_item.values():
            form = operation.get("requestBody", {}).get("content", {}).get(
                "multipart/form-data")
            if form is not None:
                _plain_form(form, _body(document, form))

    def fields(path: str) -> dict[str, Any]:
        form = document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
        return _body(document, form)["properties"]  # type: ignore[no-any-return]

    # The site's own styles, or a model a training job made (one this browser may not be
    # offered: 404).
    names = "|".join([*map(re.escape, styles), TRAINED_STYLE.pattern[1:-1]])
    fields("/api/stylize")["style"]["pattern"] = f"^({names})$"
    jobs = fields("/api/jobs")
    jobs["size"]["maximum"] = config.max_job_side
    jobs["iterations"]["maximum"] = config.max_iterations
    # Without an SMTP server the site takes no address at all.
    for path in ("/api/jobs", "/api/jobs/train"):
        fields(path)["email"]["pattern"] = EMAIL_OR_EMPTY if config.mail_enabled else "^$"
    share = document["paths"]["/api/gallery"]["post"]["requestBody"]
    share["required"] = True  # FastAPI says not, as each field is optional; one of two is not
    _body(document, share["content"]["multipart/form-data"])["oneOf"] = [
        {"required": ["image"]}, {"required": ["job_id"]}]
    return document


def _body(document: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """A form's body schema (FastAPI puts it in components)."""
    schema = form["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema  # type: ignore[no-any-return]


def _plain_form(form: dict[str, Any], body: dict[str, Any]) -> None:
    """What a multipart form can carry: no null (an optional field left out takes its
    default; FastAPI's `X | None` says null, which a form cannot send), and files that are
    images, in the formats of IMAGE_MEDIA_TYPES."""
    for name, field in body.get("properties", {}).items():
        alternatives = field.get("anyOf", [])
        if {"type": "null"} in alternatives:
            field.pop("anyOf")
            field.update(*(a for a in alternatives if a != {"type": "null"}))
            if field.get("default", 0) is None:
                del field["default"]
        if field.get("contentMediaType") == "application/octet-stream":
            field["format"] = "binary"
            form.setdefault("encoding", {})[name] = {"contentType": IMAGE_MEDIA_TYPES}
