"""What every request handler shares: settings, models, gallery, jobs, trained models and
limits (one per app, injected with FastAPI's Depends(get_site)), and the helpers handlers have
in common."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import anyio
from fastapi import HTTPException, Request, Response
from PIL import Image

from fastnst.core.errors import FastNSTError
from fastnst.web.gallery import Gallery
from fastnst.web.images import encode_image, read_upload
from fastnst.web.jobs.board import JobBoard
from fastnst.web.limits import RateLimiter, retry_after
from fastnst.web.styles import StyleModels
from fastnst.web.trained import TrainedModels
from fastnst.web.web_config import WebConfig

T = TypeVar("T")
OWNER_COOKIE = "fastnst_owner"
OWNER_MAX_AGE = 365 * 24 * 3600  # seconds
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
THUMB_SIDE = 256  # px, style thumbnails


@dataclass(eq=False)  # hashed by identity (style_thumbnail caches per Site)
class Site:
    config: WebConfig
    styles: StyleModels
    gallery: Gallery
    board: JobBoard
    trained: TrainedModels
    stylize_limit: RateLimiter
    inference: anyio.CapacityLimiter
    queue_kind: str

    async def run_inference(self, function: Callable[..., T], *args: object) -> T:
        """function(*args) on a worker thread, at most --inference-threads at once, so the
        event loop never waits on torch and the CPU is not oversubscribed."""
        return await anyio.to_thread.run_sync(functools.partial(function, *args),
                                              limiter=self.inference)

    def check_rate(self, request: Request) -> None:
        """HTTP 429 with Retry-After when this client is over --stylize-per-minute."""
        wait = self.stylize_limit.try_acquire(client_id(request))
        if wait:
            raise HTTPException(429, f"too many requests: at most "
                                     f"{self.config.stylize_per_minute} a minute; try again "
                                     f"in {retry_after(wait)} s",
                                headers={"Retry-After": retry_after(wait)})

    async def read_image(self, data: bytes, field: str, max_side: int | None) -> Image.Image:
        """An uploaded image's bytes, decoded and downscaled on a worker thread; HTTP 400
        with the reader's one-line reason when it is not a readable image within limits."""
        try:
            return await anyio.to_thread.run_sync(read_upload, data, field,
                                                  self.config.max_pixels, max_side)
        except FastNSTError as err:
            raise HTTPException(400, str(err)) from None

    def style_file(self, name: str, owner_token: str | None) -> Path | None:
        """Where the style `name` offered to the browser holding owner_token comes from: None
        for a model of the site's model folders (StyleModels loads it by name), the file of
        a trained model it may use (its own or a shared one). KeyError when this browser is
        offered no style `name`."""
        if name in self.styles.entries:
            return None
        model = self.trained.offered(name, owner_token)
        if model is None:
            raise KeyError(name)
        return self.trained.model_path(model.id)

    @functools.lru_cache(maxsize=64)  # noqa: B019 (one Site per app, kept for its life)
    def style_thumbnail(self, name: str) -> bytes | None:
        """The style image of `name` as a small JPEG, or None when the model has none."""
        entry = self.styles.entries.get(name)
        if entry is None or entry.style_image is None:
            return None
        with Image.open(entry.style_image) as image:
            small = image.convert("RGB")
            small.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
            return encode_image(small, "jpeg", 85)


def get_site(request: Request) -> Site:
    """FastAPI dependency: the app's Site."""
    return request.app.state.site  # type: ignore[no-any-return]


def client_id(request: Request) -> str:
    """The client's address, the unit of the per-client limits."""
    return request.client.host if request.client else "unknown"


def owner_token(request: Request) -> str | None:
    return request.cookies.get(OWNER_COOKIE)


def ensure_owner_token(request: Request, response: Response) -> str:
    """The browser's owner token, created (and set as an HttpOnly, SameSite=Strict cookie)
    on its first share or job. 256 random bits: never guessable."""
    token = owner_token(request)
    if token and re.fullmatch(r"[A-Za-z0-9_-]{43}", token):
        return token
    token = secrets.token_urlsafe(32)
    response.set_cookie(OWNER_COOKIE, token, max_age=OWNER_MAX_AGE, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return token


def check_job_id(job_id: str) -> str:
    """HTTP 404 for anything that is not the shape of a job id (before any lookup)."""
    if not JOB_ID.match(job_id):
        raise HTTPException(404, f"no job {job_id[:40]}")
    return job_id
