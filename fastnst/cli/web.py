"""`fastnst-web`: the web site (uvicorn), and `fastnst-web worker`: job workers for it."""

from __future__ import annotations

import errno
import logging
import socket
import sys
from collections.abc import Sequence

from fastnst.cli.common import Command, run
from fastnst.core.errors import FastNSTError
from fastnst.core.settings import load_config
from fastnst.web.web_config import WebConfig, env_settings

COMMAND = Command("fastnst-web", WebConfig, "Serve the style-transfer web site (stylize, "
                  "custom-style jobs, gallery, live camera, JSON API on /docs). Every flag "
                  "is also an environment variable: FASTNST_WEB_ + its name, e.g. "
                  "FASTNST_WEB_PORT=8080. `fastnst-web worker [flags]` runs job workers "
                  "only, for a site on another machine (give both the same --queue).",
                  subcommands={"worker": (WebConfig, "run job workers only, for a site on "
                                          "another machine (--workers threads, at least 1)")})


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), for uvicorn to listen on.

    Bound here, before the site, its data folder or its worker process exist, so a taken port
    or a bad address is one FastNSTError line (exit 2) instead of "serving ..." followed by
    uvicorn's own error lines and exit 3; handing the bound socket to uvicorn leaves no gap in
    which another program could take the port. SO_REUSEADDR as uvicorn sets it: a restart
    does not wait out TIME_WAIT, while a port another server listens on still fails.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        reason = err.strerror or str(err)
        hint = (" (another program is listening there: stop it or pick another --port)"
                if err.errno == errno.EADDRINUSE else "")
        raise FastNSTError(f"cannot listen on {host}:{port}: {reason}{hint}") from None
    return sock


def serve(config: WebConfig) -> int:
    import uvicorn

    from fastnst.web.app import create_app

    sock = listening_socket(config.host, config.port)
    app = create_app(config)
    print(f"fastnst-web: serving http://{config.host}:{config.port} (data in "
          f"{config.data_dir}, queue {config.queue_url})", file=sys.stderr)
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port,
                                           log_level="info"))
    server.run(sockets=[sock])
    return 0


def work(config: WebConfig) -> int:
    from fastnst.web.jobs.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(f"fastnst-web worker: {max(1, config.workers)} threads on {config.queue_url}",
          file=sys.stderr)
    run_worker(config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    _, flags = COMMAND.flags(argv)
    worker = flags.pop("subcommand", None) == "worker"
    prog, body = (f"{COMMAND.prog} worker", work) if worker else (COMMAND.prog, serve)
    return run(prog, lambda: body(load_config(WebConfig, (), flags, env_settings())))


if __name__ == "__main__":
    sys.exit(main())
