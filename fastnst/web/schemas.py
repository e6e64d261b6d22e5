"""Response bodies of the JSON API (they document it on /docs)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from fastnst.web.gallery import GalleryItem
from fastnst.web.jobs.queue import TRAIN, JobRecord
from fastnst.web.trained import NAME_PREFIX


class Style(BaseModel):
    name: str = Field(description="the model's bare name, the `style` of /api/stylize")
    title: str
    thumbnail_url: str | None = Field(description="the style image, small; None if unknown")


class JobCreated(BaseModel):
    id: str
    url: str = Field(description="the job's page")


class JobStatus(BaseModel):
    id: str
    status: str = Field(description="queued, running, done, failed or cancelled")
    algorithm: str = Field(description="artistic or photoreal (the slow optimisers), or train "
                           "(train a fast model)")
    size: int = Field(description="output long side, px (train: the training crop)")
    progress: float = Field(ge=0, le=1)
    iteration: int
    iterations: int
    queue_position: int | None = Field(description="1: next to run; None unless queued")
    elapsed: float = Field(description="seconds running so far")
    eta: float | None = Field(description="seconds left at the pace so far")
    error: str | None
    preview_url: str | None
    result_url: str | None
    created: str = Field(description="ISO 8601, UTC")
    resumed_from: int = Field(0, description="train: the step this run resumed from after its "
                              "worker stopped (its last checkpoint); 0: from the start")
    model: str | None = Field(None, description="train, once done: the style name of the "
                              "model, for /api/stylize and the camera")

    @classmethod
    def of(cls, record: JobRecord, queue_position: int | None) -> JobStatus:
        base = f"/api/jobs/{record.id}"
        now = time.time()
        return cls(id=record.id, status=record.status, algorithm=record.algorithm,
                   size=record.size, progress=record.progress, iteration=record.iteration,
                   iterations=record.iterations, queue_position=queue_position,
                   elapsed=round(record.elapsed(now), 2),
                   eta=None if (eta := record.eta(now)) is None else round(eta, 1),
                   error=record.error,
                   preview_url=f"{base}/preview.jpg" if record.has_preview else None,
                   result_url=f"{base}/result.png" if record.status == "done" else None,
                   created=iso_time(record.created), resumed_from=record.resumed_from,
                   model=NAME_PREFIX + record.id
                   if record.algorithm == TRAIN and record.status == "done" else None)


class GalleryEntry(BaseModel):
    id: str
    caption: str = Field(description="plain text, as shared")
    style: str
    created: str = Field(description="ISO 8601, UTC")
    width: int
    height: int
    image_url: str
    thumbnail_url: str
    owned: bool = Field(description="whether the caller shared it (and may delete it)")

    @classmethod
    def of(cls, item: GalleryItem, owner_token: str | None) -> GalleryEntry:
        return cls(id=item.id, caption=item.caption, style=item.style,
                   created=iso_time(item.created), width=item.width, height=item.height,
                   image_url=f"/media/gallery/{item.id}.png",
                   thumbnail_url=f"/media/gallery/{item.id}.thumb.jpg",
                   owned=item.owned_by(owner_token))


class GalleryPage(BaseModel):
    items: list[GalleryEntry] = Field(description="newest first")
    page: int
    has_next: bool


class Shared(BaseModel):
    id: str
    image_url: str


class Health(BaseModel):
    status: str
    queue: str = Field(description="sqlite or redis")
    styles: int
    queued: int


class ErrorDetail(BaseModel):
    """The site's one error shape: every 4xx and 5xx answer of the API, 422 included."""

    detail: str = Field(description="what went wrong, one line")


# Why each error status happens, on every route that can answer it (see `errors`).
ERROR_REASONS = {
    400: "a field the schema cannot check: not a readable image, over the site's pixel limit",
    403: "a cross-site request, or someone else's job or gallery item",
    404: "no such job, image, gallery item or style",
    409: "the job has already ended, or has no result yet",
    413: "the request body is over --max-upload-mb",
    422: "a field is missing or out of the bounds the schema declares",
    429: "over a per-client limit; Retry-After says when to try again",
    503: "the job queue is full",
}


def errors(*codes: int, **reasons: str) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route for its error statuses, each with the ErrorDetail body:
    the ERROR_REASONS description, or the route's own (`reasons`, keyed "e404" etc.)."""
    return {code: {"model": ErrorDetail,
                   "description": reasons.get(f"e{code}", ERROR_REASONS[code])}
            for code in codes}


def iso_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
