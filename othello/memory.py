"""Memory before allocating: a count the user gave (games, cases, a batch) is checked against what the machine can
give before the arrays are made, so that an impossible request is one line instead of a process the kernel kills."""

from __future__ import annotations

import os

from othello.errors import ConfigError

__all__ = ["available_memory", "check_memory"]

# what a request may take of the memory available: the rest is the interpreter, torch and the page cache
SHARE = 0.8


def available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping (``MemAvailable``), or None where it does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, what: str) -> None:
    """Refuse ``what`` (``"1,000,000,000 games"``) when its ``needed`` bytes exceed the share of the available
    memory a request may take: a ``ConfigError`` naming both sizes."""
    available = available_memory()
    if available is not None and needed > SHARE * available:
        raise ConfigError(
            f"{what} need about {_size(needed)} of memory and {_size(available)} is available: ask for less"
        )


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
