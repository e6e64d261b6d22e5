"""The JSON API of "train a fast model" jobs: POST /api/jobs/train queues one; it is then a
job like the others (GET /api/jobs/ID, its page, cancelling, e-mail), and its model appears
among the caller's styles once done (fastnst.web.trained)."""

from __future__ import annotations

import functools
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from fastnst.web.api import checked_email, label_from_filename
from fastnst.web.jobs.board import STYLE_SIDE
from fastnst.web.jobs.queue import TRAIN
from fastnst.web.schemas import JobCreated, errors
from fastnst.web.site import Site, client_id, ensure_owner_token, get_site

router = APIRouter()
SiteDep = Annotated[Site, Depends(get_site)]


@router.post("/api/jobs/train", status_code=201, response_model=JobCreated, tags=["jobs"],
             responses=errors(400, 403, 413, 422, 429, 503,
                              e400="not an image, or a bad e-mail address",
                              e413="the request over --max-upload-mb, or the painting over "
                                   "--train-upload-mb",
                              e429="you have a training job queued or running"))
async def create_training_job(request: Request, response: Response, site: SiteDep,
                              style: Annotated[UploadFile, File(description="the painting")],
                              email: Annotated[str, Form(description="notified when it "
                                                         "ends")] = ""
                              ) -> JobCreated | JSONResponse:
    """Queue a job that trains a fast model on the painting (the site's --train-config
    recipe, at most --train-steps steps, --train-size px crops, --train-minutes minutes).
    One training job per client at a time (429). Once done, the model is offered to you on
    the stylize page, /api/stylize and the camera as `trained-ID`; sharing the job's result
    to the gallery offers it to everyone."""
    config = site.config
    email = checked_email(email, site)
    data = await style.read()
    if len(data) > config.train_upload_mb * 1_000_000:
        # A response, not an HTTPException: the app's handler words every HTTPException 413
        # as the request-body limit (--max-upload-mb), and this is the painting's own cap.
        return JSONResponse({"detail": f"style: the painting is over the training limit of "
                                       f"{config.train_upload_mb:g} MB"}, status_code=413)
    painting = await site.read_image(data, "style", STYLE_SIDE)
    token = ensure_owner_token(request, response)
    record = await anyio.to_thread.run_sync(functools.partial(
        site.board.submit, None, painting, algorithm=TRAIN, size=config.train_size,
        iterations=config.train_steps, email=email, style_name=label_from_filename(style.filename),
        client=client_id(request), owner_token=token))
    return JobCreated(id=record.id, url=f"/jobs/{record.id}")
