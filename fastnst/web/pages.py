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


def style_cards(site: Site, owner_token: str | None) -> list[dict[str, Any]]:
    """The styles offered to this browser: the site's models, then trained ones (its own
    and shared ones, newest first)."""
    shipped = [{"name": e.name, "title": e.title, "description": f"{e.title} (model {e.name})",
                "thumb_url": f"/api/styles/{e.name}/thumbnail.jpg" if e.style_image else None}
               for e in site.styles.entries.values()]
    trained = [{"name": m.name, "title": m.title,
                "description": f"{m.title} (trained on this site"
                               f"{', shared' if m.gallery_item else ''})",
                "thumb_url": f"/api/styles/{m.name}/thumbnail.jpg"}
               for m in site.trained.listed(owner_token)]
    return shipped + trained


@router.get("/", response_class=HTMLResponse)
def stylize_page(request: Request, site: SiteDep, style: str | None = None) -> HTMLResponse:
    """style: the style chosen at first (a finished training job links to its model), else
    the first one."""
    samples = [{"name": path.stem, "url": f"/static-assets/content/{path.name}"}
               for path in sorted(CONTENT_DIR.glob("*.jpg"))]
    cards = style_cards(site, owner_token(request))
    names = [card["name"] for card in cards]
    return render(request, "index.html", "Stylize", "stylize", styles=cards,
                  selected=style if style in names else names[0],
                  samples=samples, max_side=site.config.max_side)


@router.get("/custom", response_class=HTMLResponse)
def custom_page(request: Request, site: SiteDep) -> HTMLResponse:
    config = site.config
    return render(request, "custom.html", "Custom style", "custom",
                  max_job_side=config.max_job_side, default_size=config.job_size,
                  default_iterations={"artistic": config.artistic_iterations,
                                      "photoreal": config.photoreal_iterations},
                  max_iterations=config.max_iterations, email_enabled=config.mail_enabled,
                  train_steps=config.train_steps, train_minutes=config.train_minutes,
                  train_upload_mb=config.train_upload_mb)


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
    return render(request, "camera.html", "Live camera", "camera",
                  styles=style_cards(site, owner_token(request)),
                  frame_side=site.config.camera_side)


@router.get("/about", response_class=HTMLResponse)
def about_page(request: Request, site: SiteDep) -> HTMLResponse:
    return render(request, "about.html", "About", "about", styles=style_cards(site, None),
                  version=__version__)
