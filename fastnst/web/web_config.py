"""Settings of `fastnst-web` (the site) and `fastnst-web worker` (job workers).

Every setting is a flag and an environment variable: `--max-side 800` or
FASTNST_WEB_MAX_SIDE=800 (flags win). Sizes are pixels on the long side; limits count per
client IP address.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Gt

from fastnst.core.errors import FastNSTError
from fastnst.core.fields import Count, Positive, Side, device_option
from fastnst.core.settings import Commas, OrNone, option, settings

ENV_PREFIX = "FASTNST_WEB_"
ALGORITHMS = ("artistic", "photoreal")
SERVER, LIMITS, JOBS, TRAINING, MAIL = "server", "limits", "jobs", "training jobs", "e-mail"
PositiveFloat = Annotated[float, Gt(0)]


@settings
class WebConfig:
    """Everything the site and its workers need."""

    host: str = option("127.0.0.1", "address to listen on (0.0.0.0: every interface)",
                       group=SERVER)
    port: Positive = option(8000, "port to listen on", group=SERVER)
    data_dir: str = option("./fastnst-data", "folder for the job queue, results and the "
                           "gallery (created if missing)", metavar="DIR", group=SERVER)
    queue: str = option("", "job queue URL: sqlite:///PATH or redis://HOST:PORT/DB (default: "
                        "the embedded SQLite queue in DATA_DIR/queue.sqlite3)", metavar="URL",
                        group=SERVER)
    workers: Count = option(1, "job worker threads that `fastnst-web` starts in a worker process "
                          "(0: none, for a site whose jobs run on `fastnst-web worker` "
                          "elsewhere); for `fastnst-web worker`, its own threads",
                          metavar="N", group=SERVER)
    inference_threads: Positive = option(2, "stylize and camera requests run at the same time "
                                    "(the rest wait)", metavar="N", group=SERVER)
    public_url: str = option("", "the site's address in e-mailed links (default "
                             "http://HOST:PORT)", metavar="URL", group=SERVER)
    device: str = device_option()
    styles: OrNone[Commas[str]] = option(
        None, "models offered (default: every model found: $FASTNST_CHECKPOINTS, "
        "./models, ./checkpoints, the shipped ones)", metavar="NAME,...", group=SERVER)
    max_upload_mb: PositiveFloat = option(20.0, "largest request body, in MB (413 above)",
                                          metavar="MB", group=LIMITS)
    max_pixels: Positive = option(40_000_000, "refuse uploaded images with more pixels (400)",
                             metavar="N", group=LIMITS)
    max_side: int = option(1024, "photos are downscaled to this long side before stylizing",
                           metavar="PX", group=LIMITS)
    camera_side: int = option(384, "camera frames are downscaled to this long side",
                              metavar="PX", group=LIMITS)
    stylize_per_minute: Positive = option(30, "stylize requests per client per minute (429 above)",
                                     metavar="N", group=LIMITS)
    rate_limit_storage: str = option("memory://", "where the per-minute limits count: "
                                     "memory:// (each site process its own budget) or "
                                     "redis://HOST:PORT/DB (one budget for every site process "
                                     "using it)", metavar="URL", group=LIMITS)
    jobs_per_client: Positive = option(3, "queued or running jobs per client (429 above)",
                                  metavar="N", group=LIMITS)
    max_queued: Positive = option(50, "queued jobs in all (503 above)", metavar="N", group=LIMITS)
    gallery_page_size: Positive = option(24, "gallery items per page", metavar="N", group=LIMITS)
    max_job_side: int = option(1024, "largest output size a job may ask for", metavar="PX",
                               group=JOBS)
    job_size: Positive = option(512, "a job's output size when the form leaves it out",
                           metavar="PX", group=JOBS)
    artistic_iterations: Positive = option(300, "L-BFGS steps of an artistic job by default",
                                      metavar="N", group=JOBS)
    photoreal_iterations: Positive = option(150, "steps of a photorealistic job by default (2/3 "
                                       "at half size, 1/3 at full size)", metavar="N",
                                       group=JOBS)
    max_iterations: Positive = option(1000, "most steps a job may ask for", metavar="N", group=JOBS)
    job_retries: Count = option(2, "times a job whose worker died is run again before it fails",
                              metavar="N", group=JOBS)
    heartbeat_timeout: PositiveFloat = option(
        30.0, "a running job whose worker has been silent this long is taken as lost and "
        "queued again", metavar="S", group=JOBS)
    train_config: str = option("quick", "the recipe of 'train a fast model' jobs: a bundled "
                               "config's name (quick, fast, debug) or a YAML file; the caps below "
                               "apply on top", metavar="CONFIG", group=TRAINING)
    train_data: str = option("", "folder of training photos for training jobs, e.g. COCO's "
                             "train2014 (default: the 8 bundled photos, enough to try the "
                             "feature, too few for a good model)", metavar="DIR",
                             group=TRAINING)
    train_steps: Positive = option(340, "most optimizer steps of a training job (the recipe's own "
                              "count when lower)", metavar="N", group=TRAINING)
    train_minutes: PositiveFloat = option(
        30.0, "most minutes of training per job: it then stops and keeps the model as it is",
        metavar="MIN", group=TRAINING)
    train_size: Side = option(256, "largest training crop of a training job (the recipe's own "
                             "when lower)", metavar="PX", group=TRAINING)
    train_upload_mb: PositiveFloat = option(10.0, "largest painting a training job accepts, in MB "
                                    "(413 above)", metavar="MB", group=TRAINING)
    smtp_host: str = option("", "SMTP server for job e-mails (empty: no e-mail)",
                            metavar="HOST", group=MAIL)
    smtp_port: Positive = option(587, "SMTP port", group=MAIL)
    smtp_user: str = option("", "SMTP login (empty: none)", group=MAIL)
    smtp_password: str = option("", "SMTP password", group=MAIL, show_default=False)
    smtp_starttls: bool = option(True, "upgrade the SMTP connection with STARTTLS",
                                 negatable=True, group=MAIL)
    mail_from: str = option("fastnst@localhost", "sender address of job e-mails",
                            metavar="ADDRESS", group=MAIL)

    def __post_init__(self) -> None:
        # One message for the three photo sides (the site's docs and a test quote it).
        if min(self.max_side, self.camera_side, self.max_job_side) < 16:
            raise FastNSTError("--max-side, --camera-side and --max-job-side must be >= 16 px")
        if not self.rate_limit_storage.startswith(("memory://", "redis://", "rediss://")):
            raise FastNSTError(f"--rate-limit-storage must be memory:// or "
                               f"redis://HOST:PORT/DB, not {self.rate_limit_storage!r}")
        if not self.queue.startswith(("", "sqlite:///", "redis://", "rediss://")):
            raise FastNSTError(f"--queue must be sqlite:///PATH or redis://HOST:PORT/DB, "
                               f"not {self.queue!r}")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def queue_url(self) -> str:
        """The queue URL, the embedded SQLite file when --queue is empty."""
        if self.queue:
            return self.queue
        return f"sqlite:///{(self.data_path / 'queue.sqlite3').resolve()}"

    @property
    def site_url(self) -> str:
        """The site's address for links sent by e-mail, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @property
    def mail_enabled(self) -> bool:
        return bool(self.smtp_host)


def env_settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The FASTNST_WEB_* environment variables as config values (strings; load_config parses
    them like flags). An unknown FASTNST_WEB_ name is an error, not silently ignored."""
    environ = dict(os.environ) if environ is None else environ
    names = {field.name for field in dataclasses.fields(WebConfig)}
    settings = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in names:
            raise FastNSTError(f"unknown setting {key} (the environment variables are "
                               f"{ENV_PREFIX} + a flag's name, e.g. {ENV_PREFIX}PORT)")
        settings[name] = value
    return settings
