"""Start the service under uvicorn on 127.0.0.1:PORT, for end-to-end tests.

``--block-torch`` makes ``import torch`` fail first, as on a machine without torch.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    port = int(sys.argv[1])
    if "--block-torch" in sys.argv:
        sys.modules["torch"] = None  # type: ignore[assignment]
    import uvicorn

    from app.main import create_app

    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning")
