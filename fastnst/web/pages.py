"""The site's HTML pages, rendered on the server from templates/ (their scripts call the API)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from fastnst import __version__
from fastnst.core.assets import CONTENT_DIR
from fastnst.web.schemas import GalleryEntry
from fastnst.web.site import Site, check_job_id, get_site, owner_token

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
SiteDep = Annotated[Site, Depends(get_site)]


def render(request: Request, template: str, title: str, page: str | None,
           **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, template,
                                      {"title": title, "page": page, **context})


def style_cards(site: Site) -> list[dict[str, Any]]:
    return [{"name": e.name, "title": e.title, "description": f"{e.title} (model {e.name})",
             "thumb_url": f"/api/styles/{e.name}/thumbnail.jpg" if e.style_image else None}
            for e in site.styles.entries.values()]


@router.get("/", response_class=HTMLResponse)
def stylize_page(request: Request, site: SiteDep) -> HTMLResponse:
    samples = [{"name": path.stem, "url": f"/static-assets/content/{path.name}"}
               for path in sorted(CONTENT_DIR.glob("*.jpg"))]
    return render(request, "index.html", "Stylize", "stylize", styles=style_cards(site),
                  samples=samples, max_side=site.config.max_side)


@router.get("/custom", response_class=HTMLResponse)
def custom_page(request: Request, site: SiteDep) -> HTMLResponse:
    config = site.config
    return render(request, "custom.html", "Custom style", "custom",
                  max_job_side=config.max_job_side, default_size=config.job_size,
                  default_iterations={"artistic": config.artistic_iterations,
                                      "photoreal": config.photoreal_iterations},
                  max_iterations=config.max_iterations, email_enabled=config.mail_enabled)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, site: SiteDep) -> HTMLResponse:
    site.board.get(check_job_id(job_id))  # 404 page for unknown jobs
    return render(request, "job.html", "Job", "custom", job_id=job_id)


@router.get("/gallery", response_class=HTMLResponse)
def gallery_page(request: Request, site: SiteDep,
                 page: Annotated[int, Query(ge=1)] = 1) -> HTMLResponse:
    items, has_next = site.gallery.page(page, site.config.gallery_page_size)
    token = owner_token(request)
    cards = []
    for item in items:
        entry = GalleryEntry.of(item, token).model_dump()
        entry["created_label"] = time.strftime("%d %b %Y, %H:%M UTC", time.gmtime(item.created))
        cards.append(entry)
    return render(request, "gallery.html", "Gallery", "gallery", items=cards,
                  page_number=page, has_prev=page > 1, has_next=has_next)


@router.get("/camera", response_class=HTMLResponse)
def camera_page(request: Request, site: SiteDep) -> HTMLResponse:
    return render(request, "camera.html", "Live camera", "camera", styles=style_cards(site),
                  frame_side=site.config.camera_side)


@router.get("/about", response_class=HTMLResponse)
def about_page(request: Request, site: SiteDep) -> HTMLResponse:
    return render(request, "about.html", "About", "about", styles=style_cards(site),
                  version=__version__)
