import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

WTHOR = Path(__file__).resolve().parents[2] / "shared" / "data" / "wthor"


@pytest.fixture
def wthor_dir() -> Path:
    if not WTHOR.is_dir() or not any(WTHOR.glob("*.wtb")):
        pytest.skip(f"WTHOR archive not found at {WTHOR}")
    return WTHOR
