"""The live camera's WebSocket: JPEG frames in, stylized JPEG frames out.

Protocol (/ws/camera): the page sends a text message {"style": NAME} (again whenever the
choice changes), then binary messages, each one JPEG frame; the server answers each frame
with one binary JPEG (the stylized frame, long side at most --camera-side) or one text
message {"error": "..."}. The page sends its next frame after the answer, so a slow server
slows the frame rate instead of queueing frames.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from fastnst.core.errors import FastNSTError
from fastnst.web.images import encode_image, read_upload
from fastnst.web.site import OWNER_COOKIE, Site

router = APIRouter()
MAX_FRAME_BYTES = 4_000_000  # a 4K JPEG frame is ~2 MB; more is not a camera frame
FRAME_QUALITY = 80


@router.websocket("/ws/camera")
async def camera(websocket: WebSocket) -> None:
    site: Site = websocket.app.state.site
    await websocket.accept()
    # The browser's own trained models (and shared ones) are offered here too.
    token = websocket.cookies.get(OWNER_COOKIE)
    style, checkpoint = next(iter(site.styles.entries)), None
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                chosen = _chosen_style(message["text"], site, style, token)
                if chosen is None:
                    await websocket.send_json({"error": "unknown style; see /api/styles"})
                    chosen = next(iter(site.styles.entries)), None
                style, checkpoint = chosen
                continue
            frame = message.get("bytes") or b""
            if len(frame) > MAX_FRAME_BYTES:
                await websocket.send_json({"error": "frame too large"})
                continue
            try:
                out = await site.run_inference(_stylize_frame, site, style, checkpoint, frame)
            except FastNSTError as err:
                await websocket.send_json({"error": str(err)})
                continue
            await websocket.send_bytes(out)
    except WebSocketDisconnect:
        return


def _chosen_style(text: str, site: Site, current: str, owner_token: str | None
                  ) -> tuple[str, Path | None] | None:
    """The style a text message asks for and its trained model file (see Site.style_file);
    None when it names none the site offers this browser."""
    try:
        name = json.loads(text).get("style", current)
        return name, site.style_file(name, owner_token)
    except (ValueError, AttributeError, KeyError, TypeError):
        return None


def _stylize_frame(site: Site, style: str, checkpoint: Path | None, frame: bytes) -> bytes:
    """JPEG bytes -> stylized JPEG bytes, long side at most --camera-side."""
    image = read_upload(frame, "frame", site.config.max_pixels, site.config.camera_side)
    return encode_image(site.styles.stylize(style, image, checkpoint=checkpoint), "jpeg",
                        FRAME_QUALITY)
