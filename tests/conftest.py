import sys
from pathlib import Path

import pytest

# Benchmarks and tests share the zoo loader (benchmarks/zoo.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import zoo  # noqa: E402


@pytest.fixture(scope="session")
def zoo_dir() -> Path:
    if not zoo.available():
        pytest.skip("../shared/zoo is not beside the repository")
    return zoo.ZOO
