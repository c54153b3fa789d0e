"""Atomic file writing: a file appears under its final name only once it is complete."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from othello.errors import OthelloError


class OutputPathError(OthelloError, OSError):
    """The output path cannot be written (its folder is missing, read-only, or it names a folder)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds, else delete it."""
    final = Path(path)
    if final.is_dir():
        raise OutputPathError(f"cannot write {final}: it is a folder")
    folder = final.parent if str(final.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"cannot write {final}: cannot create its folder ({error.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f"cannot write {final}: folder {folder} is not writable")
    temporary = folder / f".{final.name}.tmp-{os.getpid()}"
    try:
        yield temporary
        # some writers (safetensors) create private files; give the result the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    """Write ``rows`` as CSV with the columns ``fields`` (other keys left out), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())
