from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cluster import Cluster  # noqa: E402


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A fresh control plane per test; every process it started is stopped at the end."""
    instance = Cluster(tmp_path)
    try:
        yield instance
    finally:
        instance.stop_all()
