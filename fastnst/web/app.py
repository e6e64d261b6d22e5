"""The ASGI application: `create_app(config)` wires settings, models, gallery, jobs, pages,
API, camera and hardening together; `fastnst-web` serves it with uvicorn."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from fastnst import __version__
from fastnst.core.assets import CONTENT_DIR
from fastnst.web import api, camera, pages, training_api
from fastnst.web.gallery import Gallery
from fastnst.web.jobs.board import JobBoard
from fastnst.web.jobs.errors import (
    JobEnded,
    JobError,
    JobNotFound,
    NotJobOwner,
    QueueFull,
    TooManyJobs,
)
from fastnst.web.jobs.queue import open_queue
from fastnst.web.jobs.runner import register_task
from fastnst.web.jobs.worker import start_embedded_worker
from fastnst.web.limits import RateLimiter
from fastnst.web.openapi import site_openapi
from fastnst.web.security import CONTENT_SECURITY_POLICY, SecurityMiddleware, body_too_large
from fastnst.web.site import Site
from fastnst.web.styles import StyleModels, find_styles
from fastnst.web.trained import TrainedModels
from fastnst.web.web_config import WebConfig

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
# Paths whose errors are JSON for scripts; other paths get the HTML error page.
JSON_PREFIXES = ("/api/", "/media/", "/healthz", "/ws/")
# The HTTP status of each refusal of the job board (which knows nothing of HTTP); the routes'
# `responses=errors(...)` declare the same statuses in the OpenAPI document.
JOB_ERROR_STATUS: dict[type[JobError], int] = {
    TooManyJobs: 429,  # a per-client limit, as --stylize-per-minute's
    QueueFull: 503,  # the site, not the client, is out of room
    JobNotFound: 404,
    NotJobOwner: 403,
    JobEnded: 409,  # conflicts with the job's state: asking again will not help
}


def build_site(config: WebConfig) -> Site:
    """The shared state of one app (the data folder is created here)."""
    config.data_path.mkdir(parents=True, exist_ok=True)
    huey = open_queue(config.queue_url)
    task = register_task(huey, config)
    trained = TrainedModels(config.data_path)
    return Site(config=config,
                styles=StyleModels(find_styles(config.styles), config.device),
                gallery=Gallery(config.data_path),
                board=JobBoard(config, huey, task, trained),
                trained=trained,
                stylize_limit=RateLimiter(config.stylize_per_minute,
                                          storage=config.rate_limit_storage),
                inference=anyio.CapacityLimiter(config.inference_threads),
                queue_kind="redis" if config.queue_url.startswith("redis") else "sqlite")


async def recover_lost_jobs(site: Site, every: float) -> None:
    """Every `every` seconds, queue again the jobs whose worker died (see JobBoard.recover)."""
    while True:
        await asyncio.sleep(every)
        try:
            await anyio.to_thread.run_sync(site.board.recover)
        except Exception:  # a queue hiccup must not end the loop (logged, tried again)
            log.exception("recovering lost jobs failed")


def create_app(config: WebConfig, start_workers: bool = True) -> FastAPI:
    """The site for `config`. start_workers: start --workers job threads in a child process
    when the app starts (False: jobs wait for `fastnst-web worker` processes)."""
    site = build_site(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded = site.queue_kind == "sqlite"
        # With the embedded queue the site's own worker is the only one: a job left running
        # is one the last run of the site was killed in the middle of.
        own_workers = start_workers and config.workers > 0
        await anyio.to_thread.run_sync(site.board.recover, embedded and own_workers)
        worker = start_embedded_worker(config) if own_workers else None
        loop = asyncio.create_task(recover_lost_jobs(site, config.heartbeat_timeout / 3))
        try:
            yield
        finally:
            loop.cancel()
            with suppress(asyncio.CancelledError):
                await loop
            if worker is not None:
                worker.terminate()
                await anyio.to_thread.run_sync(worker.join, 10)

    app = FastAPI(title="fastnst", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="Neural style transfer: fast stylizing with shipped models, "
                              "custom-style jobs on a queue, a shared gallery.")
    app.state.site = site
    app.add_middleware(SecurityMiddleware, max_body=config.max_upload_bytes)
    # FastAPI's body limit on the routes that read bodies (413). Per router, not
    # FastAPI(max_body_size=...): the app-wide one wraps SecurityMiddleware and would turn its
    # JSON 413 into plain text (see SecurityMiddleware).
    app.include_router(api.router, max_body_size=config.max_upload_bytes)
    app.include_router(pages.router)
    app.include_router(camera.router)
    app.include_router(training_api.router, max_body_size=config.max_upload_bytes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/static-assets/content", StaticFiles(directory=CONTENT_DIR), name="samples")
    _add_docs(app)
    _add_error_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = site_openapi(app, config, list(site.styles.entries))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _add_docs(app: FastAPI) -> None:
    """/docs: Swagger UI 5 from the swagger-ui-bundle-v2 package (no CDN), its inline script
    allowed by hash in this page's own Content-Security-Policy."""
    import swagger_ui_bundle

    app.mount("/docs-static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-static")
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="fastnst API",
                               swagger_js_url="/docs-static/swagger-ui-bundle.js",
                               swagger_css_url="/docs-static/swagger-ui.css",
                               swagger_favicon_url="/static/favicon.svg").body
    html = bytes(page).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, re.S))
    policy = CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})


def allowed_methods(request: Request) -> list[str]:
    """The methods of every route at the request's path. Starlette's own 405 names only the
    first route's, and /api/gallery, /api/jobs/ID have two routes each (GET and POST or
    DELETE)."""
    # FastAPI 0.165 nests included routers; iter_route_contexts walks them to their routes.
    path = request.url.path
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        pattern = getattr(route, "path_regex", None)
        if route.methods and pattern is not None and pattern.match(path):
            methods |= route.methods
    return sorted(methods)


def _add_error_handlers(app: FastAPI) -> None:
    """Errors as {"detail": "one line"} JSON for the API, an HTML page for page URLs."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = []
        for error in err.errors():
            where = ".".join(str(part) for part in error["loc"] if part not in ("body", "query",
                                                                                 "path"))
            problems.append(f"{where}: {error['msg']}" if where else error["msg"])
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        headers = getattr(err, "headers", None)
        if err.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        detail = err.detail
        if err.status_code == 413:  # FastAPI's body limit says only "Content Too Large"
            detail = body_too_large(request.app.state.site.config.max_upload_bytes)
        return error_response(request, err.status_code, detail, headers)

    @app.exception_handler(JobError)
    async def job_error(request: Request, err: JobError) -> Response:
        return error_response(request, job_error_status(err), str(err))


def job_error_status(err: JobError) -> int:
    """The HTTP status of a job board refusal: its class's in JOB_ERROR_STATUS, or its
    nearest base class's there (a subclass added later answers as its parent)."""
    for cls in type(err).__mro__:
        if cls in JOB_ERROR_STATUS:
            return JOB_ERROR_STATUS[cls]
    return 400  # a JobError with no status of its own: the client's request was refused


def error_response(request: Request, status: int, detail: str,
                   headers: Mapping[str, str] | None = None) -> Response:
    """The site's one error shape: {"detail": detail} JSON for the API and scripts, the
    error page for a browser asking for a page (Accept: text/html)."""
    path = request.url.path
    if path.startswith(JSON_PREFIXES) or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    return pages.TEMPLATES.TemplateResponse(
        request, "error.html", {"title": f"Error {status}", "status_code": status,
                                "detail": detail},
        status_code=status, headers=headers)
