import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# a script run by torchrun in the two-process training test: importing it (the doctest collection does) would
# start a process group
collect_ignore = ["ddp_worker.py"]

WTHOR = Path(__file__).resolve().parents[2] / "shared" / "data" / "wthor"


@pytest.fixture
def wthor_dir() -> Path:
    if not WTHOR.is_dir() or not any(WTHOR.glob("*.wtb")):
        pytest.skip(f"WTHOR archive not found at {WTHOR}")
    return WTHOR


@pytest.fixture(scope="session", autouse=True)
def probe_cache(tmp_path_factory) -> Path:
    """Probes fitted by the tests go to a folder of the test run, never to the user's cache."""
    import os

    folder = tmp_path_factory.mktemp("othello-gpt-cache")
    old = os.environ.get("OTHELLO_GPT_CACHE")
    os.environ["OTHELLO_GPT_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("OTHELLO_GPT_CACHE")
    else:
        os.environ["OTHELLO_GPT_CACHE"] = old
