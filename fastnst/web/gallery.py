"""The shared gallery: items in SQLite, images as files named by random ids.

DATA_DIR/gallery.sqlite3 holds one row per item; DATA_DIR/gallery/ID.png the full image and
ID.thumb.jpg a thumbnail for the grid. Nothing a client sends becomes part of a path: ids are
generated here and checked against ITEM_ID before use. The owner of an item is the holder of
the browser token it was shared with; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from fastnst.core.files import atomic_output
from fastnst.web.images import encode_image

ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
THUMB_SIDE = 480  # px: two grid columns on a high-density phone screen
MAX_CAPTION = 200  # characters
MAX_STYLE = 80
# Pages of the gallery a request may ask for: SQLite's OFFSET is a 64-bit integer, and a million
# pages is past any gallery.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class GalleryItem:
    """One shared image: caption and style as given (plain text), created in epoch seconds."""

    id: str
    caption: str
    style: str
    created: float
    width: int
    height: int
    owner_hash: str

    def owned_by(self, token: str | None) -> bool:
        """Whether the browser token `token` shared this item (constant-time compare)."""
        return bool(token) and hmac.compare_digest(token_hash(token or ""), self.owner_hash)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """16 URL-safe characters from 96 random bits: not guessable, safe in paths."""
    return secrets.token_urlsafe(12)


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection to one of the site's SQLite stores (the gallery, trained models): rows as
    sqlite3.Row, waiting up to 30 s for another process's write lock."""
    db = sqlite3.connect(db_path, timeout=30)
    db.row_factory = sqlite3.Row
    return db


class Gallery:
    """Thread-safe store of shared images under `folder` (created if missing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "gallery"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path = folder / "gallery.sqlite3"
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, caption TEXT, "
                       "style TEXT, created REAL, width INTEGER, height INTEGER, "
                       "owner_hash TEXT)")
            db.execute("CREATE INDEX IF NOT EXISTS items_created ON items (created)")

    def _connect(self) -> sqlite3.Connection:
        return connect(self.db_path)

    def image_path(self, item_id: str, thumb: bool = False) -> Path:
        if not ITEM_ID.match(item_id):
            raise ValueError(f"not a gallery id: {item_id!r}")
        return self.folder / (f"{item_id}.thumb.jpg" if thumb else f"{item_id}.png")

    def add(self, image: Image.Image, caption: str, style: str, owner_token: str) -> GalleryItem:
        """Store `image` (RGB) with its caption and style (trimmed to their limits); the files
        are written before the row, so a listed item always has its image."""
        item = GalleryItem(new_id(), caption.strip()[:MAX_CAPTION], style.strip()[:MAX_STYLE],
                           time.time(), image.width, image.height, token_hash(owner_token))
        thumb = image.copy()
        thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
        for path, data in ((self.image_path(item.id), encode_image(image, "png")),
                           (self.image_path(item.id, True), encode_image(thumb, "jpeg", 85))):
            with atomic_output(path) as temporary:
                temporary.write_bytes(data)
        with self._lock, self._connect() as db:
            db.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (item.id, item.caption, item.style, item.created, item.width,
                        item.height, item.owner_hash))
        return item

    def get(self, item_id: str) -> GalleryItem | None:
        if not ITEM_ID.match(item_id):
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else GalleryItem(**dict(row))

    def page(self, number: int, size: int) -> tuple[list[GalleryItem], bool]:
        """Items of page `number` (1-based, at most MAX_PAGE), newest first, and whether a
        next page exists."""
        offset = (min(max(1, number), MAX_PAGE) - 1) * size
        with self._connect() as db:
            rows = db.execute("SELECT * FROM items ORDER BY created DESC, id LIMIT ? OFFSET ?",
                              (size + 1, offset)).fetchall()
        items = [GalleryItem(**dict(row)) for row in rows]
        return items[:size], len(items) > size

    def delete(self, item_id: str) -> None:
        """Remove the row, then the files (a crash in between leaves unlisted files only)."""
        with self._lock, self._connect() as db:
            db.execute("DELETE FROM items WHERE id = ?", (item_id,))
        for thumb in (False, True):
            self.image_path(item_id, thumb).unlink(missing_ok=True)
