"""The JSON API (/api/...), used by the pages and by scripts; documented on /docs."""

from __future__ import annotations

import functools
import re
from typing import Annotated

import anyio
from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import FileResponse
from PIL import Image
from starlette.convertors import StringConvertor, register_url_convertor

from fastnst.core.errors import FastNSTError
from fastnst.web.gallery import ITEM_ID, MAX_PAGE
from fastnst.web.images import MEDIA_TYPES, encode_image, read_upload
from fastnst.web.jobs.queue import TRAIN
from fastnst.web.schemas import (
    GalleryEntry,
    GalleryPage,
    Health,
    JobCreated,
    JobStatus,
    Shared,
    Style,
    errors,
)
from fastnst.web.site import (
    JOB_ID,
    Site,
    check_job_id,
    client_id,
    ensure_owner_token,
    get_site,
    owner_token,
)
from fastnst.web.trained import NAME_PREFIX
from fastnst.web.web_config import ALGORITHMS

router = APIRouter()
SiteDep = Annotated[Site, Depends(get_site)]
# A plain address check: the mail server has the last word; this catches typos and header
# injection (no spaces or line breaks).
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
# The name of a model a training job made (fastnst.web.trained): its prefix and the job's id.
TRAINED_STYLE = re.compile(rf"^{NAME_PREFIX}{JOB_ID.pattern[1:]}")
JOB_IMAGES = {"result.png": ("result", "png"), "preview.jpg": ("preview", "jpeg")}


class JobIdConvertor(StringConvertor):
    """A `{job_id:job_id}` path segment: a job id's shape only, so that /api/jobs/train is
    not a job's URL (its Allow header names POST alone) and other shapes are 404."""

    regex = JOB_ID.pattern[1:-1]


register_url_convertor("job_id", JobIdConvertor())
# Path parameters as the schema declares them; the handlers answer 404 for any other value
# (a URL that names nothing), so the patterns are documented, not enforced by FastAPI (422).
JobIdPath = Annotated[str, Path(description="a job's id, 16 URL-safe characters",
                                json_schema_extra={"pattern": JOB_ID.pattern})]


@router.get("/api/styles", response_model=list[Style], tags=["styles"])
def list_styles(request: Request, site: SiteDep) -> list[Style]:
    """The styles /api/stylize and the camera offer: the site's models, then the models your
    training jobs made and those others shared, newest first."""
    shipped = [Style(name=e.name, title=e.title,
                     thumbnail_url=f"/api/styles/{e.name}/thumbnail.jpg" if e.style_image
                     else None) for e in site.styles.entries.values()]
    return shipped + [Style(name=m.name, title=m.title,
                            thumbnail_url=f"/api/styles/{m.name}/thumbnail.jpg")
                      for m in site.trained.listed(owner_token(request))]


@router.get("/api/styles/{name}/thumbnail.jpg", tags=["styles"], response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, **errors(404, 422)})
def style_thumbnail(name: str, request: Request, site: SiteDep) -> Response:
    """A small JPEG of the style image the model was trained on."""
    data = site.style_thumbnail(name)
    if data is None and (model := site.trained.offered(name, owner_token(request))):
        data = site.trained.thumbnail(model)
    if data is None:
        raise HTTPException(404, f"no thumbnail for style {name[:40]!r}")
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.post("/api/stylize", tags=["stylize"], response_class=Response,
             responses={200: {"content": {"image/png": {}}, "description": "the result, PNG"},
                        **errors(400, 403, 404, 413, 422, 429,
                                 e400="unknown style, or the photo is not a readable image "
                                      "within the site's pixel limit",
                                 e404="a trained-ID style this browser is not offered")})
async def stylize(request: Request, site: SiteDep,
                  image: Annotated[UploadFile, File(description="the photo")],
                  style: Annotated[str, Form(min_length=1,
                                             description="a name from /api/styles")],
                  strength: Annotated[float, Form(ge=0, le=1)] = 1.0,
                  preserve_colors: Annotated[bool, Form()] = False,
                  max_size: Annotated[int | None, Form(ge=16, description="long side, px; at "
                                                       "most the site's --max-side")] = None
                  ) -> Response:
    """Stylize one photo with a model of /api/styles (a shipped one, or a model a training
    job made: yours, or one shared); the photo is downscaled to `max_size` (or the site's
    --max-side) first. Limited per client per minute (429)."""
    site.check_rate(request)
    try:
        checkpoint = site.style_file(style, owner_token(request))
    except KeyError:
        # A trained model's name that this browser is not offered names a model it cannot
        # see (as its thumbnail does: 404); any other name is a bad field (400).
        status = 404 if TRAINED_STYLE.match(style) else 400
        raise HTTPException(status, f"unknown style {style[:40]!r}; see /api/styles") from None
    side = min(max_size or site.config.max_side, site.config.max_side)
    data = await image.read()

    def work() -> bytes:
        photo = read_upload(data, "image", site.config.max_pixels, side)
        return encode_image(site.styles.stylize(style, photo, strength, preserve_colors,
                                                checkpoint), "png")

    try:
        result = await site.run_inference(work)
    except FastNSTError as err:
        raise HTTPException(400, str(err)) from None
    return Response(result, media_type=MEDIA_TYPES["png"])


@router.post("/api/jobs", status_code=201, response_model=JobCreated, tags=["jobs"],
             responses=errors(400, 403, 413, 422, 429, 503,
                              e400="a photo or style image that is not a readable image "
                                   "within the site's pixel limit"))
async def create_job(request: Request, response: Response, site: SiteDep,
                     content: Annotated[UploadFile, File(description="the photo")],
                     style: Annotated[UploadFile, File(description="any style image")],
                     algorithm: Annotated[str, Form(
                         description="artistic (Gatys et al.) or photoreal (Luan et al.)",
                         json_schema_extra={"enum": list(ALGORITHMS)})] = "artistic",
                     size: Annotated[int | None, Form(ge=64, description="output long side, "
                                                      "px")] = None,
                     iterations: Annotated[int | None, Form(ge=1)] = None,
                     email: Annotated[str, Form(description="notified when it ends")] = ""
                     ) -> JobCreated:
    """Queue a custom-style job for the slow optimiser. At most --jobs-per-client open jobs
    per client (429) and --max-queued in all (503)."""
    config = site.config
    if algorithm not in ALGORITHMS:
        raise HTTPException(400, f"algorithm must be one of {', '.join(ALGORITHMS)}")
    size = size or config.job_size
    if size > config.max_job_side:
        raise HTTPException(400, f"size must be at most {config.max_job_side} px")
    default = (config.artistic_iterations if algorithm == "artistic"
               else config.photoreal_iterations)
    iterations = iterations or default
    if iterations > config.max_iterations:
        raise HTTPException(400, f"iterations must be at most {config.max_iterations}")
    email = checked_email(email, site)
    content_image = await site.read_image(await content.read(), "content", None)
    style_image = await site.read_image(await style.read(), "style", None)
    token = ensure_owner_token(request, response)
    # PNG encoding and storage writes: off the event loop
    record = await anyio.to_thread.run_sync(functools.partial(
        site.board.submit, content_image, style_image, algorithm=algorithm, size=size,
        iterations=iterations, email=email, style_name=label_from_filename(style.filename),
        client=client_id(request), owner_token=token))
    return JobCreated(id=record.id, url=f"/jobs/{record.id}")


def checked_email(email: str, site: Site) -> str:
    """A job form's e-mail field, stripped; HTTP 400 for a malformed address, or for any
    address when the site has no SMTP server."""
    email = email.strip()
    if email and not EMAIL.match(email):
        raise HTTPException(400, f"not an e-mail address: {email[:80]!r}")
    if email and not site.config.mail_enabled:
        raise HTTPException(400, "this site sends no e-mail (no SMTP server configured)")
    return email


def label_from_filename(filename: str | None) -> str:
    """A label from the client's file name: letters, digits, spaces, dashes only (the name
    is only ever shown as text, never used as a path)."""
    stem = (filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0]
    return re.sub(r"[^\w -]+", "", stem)[:60] or "custom style"


@router.get("/api/jobs/{job_id:job_id}", response_model=JobStatus, tags=["jobs"],
            responses=errors(404, 422))
def job_status(job_id: JobIdPath, site: SiteDep) -> JobStatus:
    """A job's state and progress (poll it)."""
    record = site.board.get(check_job_id(job_id))
    return JobStatus.of(record, site.board.queue_position(record))


@router.delete("/api/jobs/{job_id:job_id}", response_model=JobStatus, tags=["jobs"],
               responses=errors(403, 404, 409, 422))
def cancel_job(job_id: JobIdPath, request: Request, site: SiteDep) -> JobStatus:
    """Cancel your own job (403 for others' jobs, 409 once it ended). A running job stops
    at its next step."""
    record = site.board.cancel(check_job_id(job_id), owner_token(request))
    return JobStatus.of(record, None)


@router.get("/api/jobs/{job_id:job_id}/{kind}", tags=["jobs"], response_class=Response,
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}}},
                       **errors(404, 422, e404="no such job, or it has no such image yet")})
def job_image(job_id: JobIdPath,
              kind: Annotated[str, Path(json_schema_extra={"enum": list(JOB_IMAGES)})],
              site: SiteDep) -> Response:
    """result.png once done; preview.jpg while running."""
    if kind not in JOB_IMAGES:
        raise HTTPException(404, "no such job image (result.png or preview.jpg)")
    site.board.get(check_job_id(job_id))
    data = site.board.store.image(job_id, JOB_IMAGES[kind][0])
    if data is None:
        raise HTTPException(404, f"the job has no {kind} yet")
    return Response(data, media_type=MEDIA_TYPES[JOB_IMAGES[kind][1]],
                    headers={"Cache-Control": "no-store"})


@router.get("/api/gallery", response_model=GalleryPage, tags=["gallery"],
            responses=errors(422))
def gallery_page(request: Request, site: SiteDep,
                 page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> GalleryPage:
    """Shared results, newest first, --gallery-page-size a page."""
    items, has_next = site.gallery.page(page, site.config.gallery_page_size)
    token = owner_token(request)
    return GalleryPage(items=[GalleryEntry.of(item, token) for item in items], page=page,
                       has_next=has_next)


@router.post("/api/gallery", status_code=201, response_model=Shared, tags=["gallery"],
             responses=errors(400, 403, 404, 409, 413, 422,
                              e400="neither or both of image and job_id, or an image that is "
                                   "not readable within the site's pixel limit",
                              e403="a cross-site request, or another person's trained model",
                              e404="no such job"))
async def share(request: Request, response: Response, site: SiteDep,
                image: Annotated[UploadFile | None, File(description="an image to share")]
                = None,
                job_id: Annotated[str | None, Form(
                    description="or a finished job's id",
                    json_schema_extra={"pattern": JOB_ID.pattern})] = None,
                caption: Annotated[str, Form(max_length=200)] = "",
                style: Annotated[str, Form(max_length=80)] = "") -> Shared:
    """Share an image (or a finished job's result) to the gallery. Sets the owner cookie
    that lets this browser delete it later."""
    if (image is None) == (job_id is None):
        raise HTTPException(400, "give either image or job_id")
    if job_id is not None:
        record = site.board.get(check_job_id(job_id))
        data = site.board.store.image(job_id, "result")
        if record.status != "done" or data is None:
            raise HTTPException(409, f"job {job_id} has no result yet ({record.status})")
        # Sharing a training job's result shares its model with everyone: its owner's call.
        if record.algorithm == TRAIN and not site.board.owned_by(job_id, owner_token(request)):
            raise HTTPException(403, "only the person who trained this model can share it")
        picture: Image.Image = await site.read_image(data, "job result", None)
        style = style or record.style_name
    else:
        assert image is not None
        picture = await site.read_image(await image.read(), "image", site.config.max_job_side)
    token = ensure_owner_token(request, response)
    item = await anyio.to_thread.run_sync(site.gallery.add, picture, caption, style, token)
    if job_id is not None and record.algorithm == TRAIN:
        site.trained.share(job_id, item.id)
    return Shared(id=item.id, image_url=f"/media/gallery/{item.id}.png")


@router.delete("/api/gallery/{item_id}", tags=["gallery"], responses=errors(403, 404, 422))
def unshare(item_id: Annotated[str, Path(json_schema_extra={"pattern": ITEM_ID.pattern})],
            request: Request, site: SiteDep) -> dict[str, str]:
    """Delete an item you shared (403 for anyone else's)."""
    item = site.gallery.get(item_id)
    if item is None:
        raise HTTPException(404, f"no gallery item {item_id[:40]}")
    if not item.owned_by(owner_token(request)):
        raise HTTPException(403, "only the person who shared this item can delete it")
    site.gallery.delete(item.id)
    site.trained.unshare(item.id)  # a model shared with this item is its owner's only again
    return {"deleted": item.id}


@router.get("/media/gallery/{name}", tags=["gallery"], response_class=FileResponse,
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}}},
                       **errors(404, 422)})
def gallery_file(name: Annotated[str, Path(json_schema_extra={
                     "pattern": rf"^{ITEM_ID.pattern[1:-1]}\.(png|thumb\.jpg)$"})],
                 site: SiteDep) -> FileResponse:
    """A gallery image (ID.png) or its thumbnail (ID.thumb.jpg)."""
    item_id, _, suffix = name.partition(".")
    if suffix not in ("png", "thumb.jpg") or site.gallery.get(item_id) is None:
        raise HTTPException(404, "no such gallery image")
    path = site.gallery.image_path(item_id, thumb=suffix == "thumb.jpg")
    return FileResponse(path, media_type=MEDIA_TYPES["png" if suffix == "png" else "jpeg"],
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/healthz", response_model=Health, tags=["site"])
def health(site: SiteDep) -> Health:
    """Liveness: the site answers and its queue storage can be read."""
    queued = sum(r.status == "queued" for r in site.board.open_records())
    return Health(status="ok", queue=site.queue_kind, styles=len(site.styles.entries),
                  queued=queued)
