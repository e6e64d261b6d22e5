"""The models that training jobs made, as the site offers them: each to the browser that
started its job, and to everyone once its owner shares the job's result to the gallery.

DATA_DIR/trained.sqlite3 holds one row per model; DATA_DIR/trained/ID.ckpt the model file
(fastnst's slim checkpoint) and ID.jpg a thumbnail of its style image, ID being the
training job's id. A model is offered as the style `trained-ID` (NAME_PREFIX + ID) on the
stylize page, /api/stylize and the live camera. As in the gallery, nothing a client sends
becomes part of a path (ids are checked against MODEL_NAME) and only token hashes are stored.
"""

from __future__ import annotations

import hmac
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastnst.core.files import atomic_output
from fastnst.web.gallery import connect, token_hash

NAME_PREFIX = "trained-"
MODEL_NAME = re.compile(r"^trained-([A-Za-z0-9_-]{16})$")


@dataclass(frozen=True)
class TrainedModel:
    """One trained model: its job's id, a title (the painting's file name, plain text), the
    owner's token hash, the gallery item that shared it (None: private), created in epoch
    seconds."""

    id: str
    title: str
    owner_hash: str
    gallery_item: str | None
    created: float

    @property
    def name(self) -> str:
        """The style name the site offers it under."""
        return NAME_PREFIX + self.id


class TrainedModels:
    """Thread-safe store of trained models under `folder` (created if missing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "trained"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path = folder / "trained.sqlite3"
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS models (id TEXT PRIMARY KEY, title TEXT, "
                       "owner_hash TEXT, gallery_item TEXT, created REAL)")

    def _connect(self) -> sqlite3.Connection:
        return connect(self.db_path)

    def model_path(self, model_id: str) -> Path:
        return self.folder / f"{model_id}.ckpt"

    def add(self, model_id: str, title: str, owner_hash: str, model: bytes,
            thumbnail: bytes) -> None:
        """File a finished job's model (slim checkpoint bytes) and its style thumbnail (JPEG
        bytes). The files are written before the row, so a listed model always has its file;
        adding a model already filed changes nothing."""
        if self.get(NAME_PREFIX + model_id) is not None:
            return
        for path, data in ((self.model_path(model_id), model),
                           (self.folder / f"{model_id}.jpg", thumbnail)):
            with atomic_output(path) as temporary:
                temporary.write_bytes(data)
        with self._lock, self._connect() as db:
            db.execute("INSERT OR IGNORE INTO models VALUES (?, ?, ?, NULL, ?)",
                       (model_id, title, owner_hash, time.time()))

    def get(self, name: str) -> TrainedModel | None:
        """The model offered as `name` (trained-ID), whoever may see it; None if none."""
        match = MODEL_NAME.match(name)
        if match is None:
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM models WHERE id = ?", (match[1],)).fetchone()
        return None if row is None else TrainedModel(**dict(row))

    def offered(self, name: str, owner_token: str | None) -> TrainedModel | None:
        """The model `name` if the browser holding owner_token may use it (its own, or a
        shared one), else None: a private model is as unknown to others as a missing one."""
        model = self.get(name)
        if model is None:
            return None
        if model.gallery_item is None and not (
                owner_token and hmac.compare_digest(token_hash(owner_token), model.owner_hash)):
            return None
        return model

    def listed(self, owner_token: str | None) -> list[TrainedModel]:
        """The models the browser holding owner_token may use: its own and the shared ones,
        newest first."""
        owner_hash = token_hash(owner_token) if owner_token else ""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM models WHERE gallery_item IS NOT NULL OR "
                              "owner_hash = ? ORDER BY created DESC, id", (owner_hash,)).fetchall()
        return [TrainedModel(**dict(row)) for row in rows]

    def thumbnail(self, model: TrainedModel) -> bytes | None:
        path = self.folder / f"{model.id}.jpg"
        return path.read_bytes() if path.is_file() else None

    def share(self, model_id: str, gallery_item: str) -> None:
        """Offer the model to everyone, for as long as the gallery item stays."""
        with self._lock, self._connect() as db:
            db.execute("UPDATE models SET gallery_item = ? WHERE id = ?",
                       (gallery_item, model_id))

    def unshare(self, gallery_item: str) -> None:
        """The gallery item was deleted: the model it shared is its owner's only again."""
        with self._lock, self._connect() as db:
            db.execute("UPDATE models SET gallery_item = NULL WHERE gallery_item = ?",
                       (gallery_item,))
