"""Start the service under uvicorn on 127.0.0.1:PORT, for end-to-end tests.

``GASLEAK_TEST_LOG_LEVEL`` sets uvicorn's log level and the service's own loggers' (default
warning; the log-leak test runs at debug, access log on).

``--block-torch`` makes every ``import torch`` raise ModuleNotFoundError, as on a machine
where torch is not installed (a meta-path finder, so ``"torch" in sys.modules`` stays False
for libraries such as scipy that probe it).
"""

from __future__ import annotations

import importlib.abc
import os
import sys


class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked for this test)")
        return None


if __name__ == "__main__":
    port = int(sys.argv[1])
    if "--block-torch" in sys.argv:
        sys.meta_path.insert(0, _NoTorch())
    import logging

    import uvicorn

    logging.basicConfig(level=os.environ.get("GASLEAK_TEST_LOG_LEVEL", "warning").upper())

    from app.main import create_app

    level = os.environ.get("GASLEAK_TEST_LOG_LEVEL", "warning")
    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level=level)
