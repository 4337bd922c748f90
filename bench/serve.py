"""Run the service under uvicorn on 127.0.0.1:PORT: ``python -m bench.serve PORT``.

Settings come from ``GASLEAK_*`` environment variables, as in production.
"""

from __future__ import annotations

import sys


def serve(port: int) -> None:
    """Run the service (settings from the environment) on 127.0.0.1:``port`` until stopped."""
    import logging

    import uvicorn

    # the service's own warnings (lease losses, store retries) with a time, in the log file
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    from app.main import create_app

    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_max_size=64 * 1024 * 1024,
    )


if __name__ == "__main__":
    serve(int(sys.argv[1]))
