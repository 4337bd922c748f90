"""Settings bound to the model: a window the loaded model was not trained on stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from app.state import ModelMismatch


async def test_window_30_with_the_60_reading_model_refuses_to_start(tmp_path: Path) -> None:
    app = create_app(Settings(window=30, db_path=tmp_path / "g.db"))
    with pytest.raises(ModelMismatch, match="GASLEAK_WINDOW=30 .* windows of 60 readings"):
        async with LifespanManager(app, startup_timeout=120):
            pass
