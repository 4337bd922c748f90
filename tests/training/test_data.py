from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.training import data as D


@pytest.mark.parametrize("loader", [D.load_smoke_iot, D.load_air_quality])
def test_missing_data_names_the_path(tmp_path: Path, loader) -> None:  # noqa: ANN001
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        loader(tmp_path)


def test_env_overrides_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GASLEAK_DATA_DIR", str(tmp_path))
    assert D.default_data_dir() == tmp_path


def test_split_sessions_at_nan() -> None:
    s = np.ones((10, 3))
    s[4, 1] = np.nan
    parts = D.split_sessions(s, min_len=3)
    assert [len(p) for p in parts] == [4, 5]
    assert D.split_sessions(s, min_len=5)[0].shape == (5, 3)
