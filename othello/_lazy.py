"""Lazy re-exports for package ``__init__`` files (PEP 562), so that importing one light module of a package
(``othello.model.config``) does not import the heavy ones beside it (torch, TransformerLens)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, list[str]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``exports`` maps a module to the public names it gives the package; returns the package's ``__all__``,
    ``__getattr__`` and ``__dir__``: each name is imported from its module the first time it is asked for."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return list(where), __getattr__, __dir__
