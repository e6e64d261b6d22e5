"""`fastnst-web`: the web site (uvicorn), and `fastnst-web worker`: job workers for it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from fastnst.cli.common import Command, run
from fastnst.core.config import load_config
from fastnst.web.config import WebConfig, env_settings

COMMAND = Command("fastnst-web", WebConfig, "Serve the style-transfer web site (stylize, "
                  "custom-style jobs, gallery, live camera, JSON API on /docs). Every flag "
                  "is also an environment variable: FASTNST_WEB_ + its name, e.g. "
                  "FASTNST_WEB_PORT=8080. `fastnst-web worker [flags]` runs job workers "
                  "only, for a site on another machine (give both the same --queue).")
WORKER = Command("fastnst-web worker", WebConfig, "Run job workers for a fastnst-web site "
                 "(same flags; --workers threads, at least 1).")


def serve(config: WebConfig) -> int:
    import uvicorn

    from fastnst.web.app import create_app

    app = create_app(config)
    print(f"fastnst-web: serving http://{config.host}:{config.port} (data in "
          f"{config.data_dir}, queue {config.queue_url})", file=sys.stderr)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info")
    return 0


def work(config: WebConfig) -> int:
    from fastnst.web.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(f"fastnst-web worker: {max(1, config.workers)} threads on {config.queue_url}",
          file=sys.stderr)
    run_worker(config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command, body = (WORKER, work) if argv[:1] == ["worker"] else (COMMAND, serve)
    if command is WORKER:
        argv = argv[1:]
    _, flags = command.flags(argv)
    return run(command.prog, lambda: body(load_config(WebConfig, (), flags, env_settings())))


if __name__ == "__main__":
    sys.exit(main())
