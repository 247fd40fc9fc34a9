"""Fixtures for the shared core: a tiny clean-image split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.splits import make_split


@pytest.fixture
def tiny_split(tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    """24 train, 8 val and 4 test images of each class, 32x32."""
    return make_split(tmp_path / "set", {"train": 24, "val": 8, "test": 4})
