"""Copies of one model lent to one caller at a time, so that callers in threads (the explorer's requests) never
share hook state.

TransformerLens keeps hooks on the model's ``HookPoint`` modules: a hook that one thread adds for its edit (or its
cache) is seen by a forward pass another thread runs on the same model meanwhile, and a ``reset_hooks`` on the way
out removes the other's hooks too. Giving each caller a model of its own for the length of its work removes the
sharing instead of guarding it.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator

import torch

__all__ = ["ModelPool"]


class ModelPool:
    """Up to ``most`` copies of ``model``, made when first needed, each lent to one caller at a time.

    ``model`` itself is the template the copies are made from and is never lent: read its config and weights
    (``pool.template.cfg``), but run it only through ``lease``. A caller past ``most`` waits for a copy to come
    back; one copy takes the model's size in memory (25 MB for the shipped model) and about 0.1 s to make.
    """

    def __init__(self, model: torch.nn.Module, most: int = 8) -> None:
        if most < 1:
            raise ValueError(f"a pool needs at least one copy; got most={most}")
        self.template = model
        self.most = most
        self._free: list[torch.nn.Module] = []
        self._made = 0
        self._changed = threading.Condition()

    @property
    def made(self) -> int:
        """How many copies exist (lent or free)."""
        return self._made

    @property
    def lent(self) -> int:
        """How many copies are lent now."""
        with self._changed:
            return self._made - len(self._free)

    @contextlib.contextmanager
    def lease(self) -> Iterator[torch.nn.Module]:
        """A copy of the model for this caller alone until the block ends; its hooks are removed on return, so the
        next caller gets it clean even when the block raised inside a hook."""
        with self._changed:
            while not self._free and self._made >= self.most:
                self._changed.wait()
            model = self._free.pop() if self._free else None
            if model is None:
                self._made += 1
        if model is None:
            try:
                model = copy.deepcopy(self.template)
            except BaseException:
                with self._changed:
                    self._made -= 1
                    self._changed.notify()
                raise
        try:
            yield model
        finally:
            if _has_hooks(model):  # a caller's hook left behind (TransformerLens's contexts remove their own)
                model.reset_hooks(including_permanent=False)
            with self._changed:
                self._free.append(model)
                self._changed.notify()


def _has_hooks(model: torch.nn.Module) -> bool:
    """Whether any hook point of ``model`` holds a hook: a look at each point's hook tables (under a millisecond), where
    ``reset_hooks`` itself takes milliseconds, a cost every request would pay."""
    points = getattr(model, "hook_dict", {}).values()
    return any(p._forward_hooks or p._forward_pre_hooks or p._backward_hooks for p in points)
