"""The explorer in a notebook: an anywidget with the page's drawing code, its state readable and settable.

```python
w = Explorer(load_model())          # displayed by the cell
w.moves = "f5 d6 c3 d3"             # play from Python; clicks on the board play too
w.layer = 5                         # the read-out drawn large; clicks on the layer strip set it too
w.head = "1.3"                      # head 3 of block 1: its attention pattern over the game (w.attention)
w.edits = [{"square": "e4", "op": "flip"}]
w.result["edited"]["error_after"]
```
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from othello.errors import OthelloError
from othello.explorer.server import STATIC
from othello.explorer.service import AnalyzeRequest, AttentionRequest, ExplorerBackend
from othello.values import parse_head

__all__ = ["Explorer"]


class Explorer(anywidget.AnyWidget):
    """Play a position, see the board the model believes, edit it. ``result`` is ``/api/analyze``'s answer."""

    # the page's board.js, then the widget's glue: one drawing code for the page and the notebook
    _esm = (STATIC / "board.js").read_text() + "\n" + (STATIC / "widget.js").read_text()
    moves = traitlets.Unicode("").tag(sync=True)
    edits = traitlets.List(traitlets.Dict()).tag(sync=True)
    labelling = traitlets.Unicode("relative").tag(sync=True)
    site = traitlets.Unicode("resid_post").tag(sync=True)
    layer = traitlets.Int(-1).tag(sync=True)  # the read-out drawn; -1: the last layer
    method = traitlets.Unicode("linear").tag(sync=True)
    writes = traitlets.Unicode("board as read").tag(sync=True)
    edit_layers = traitlets.Unicode("").tag(sync=True)  # "" : the tested default
    head = traitlets.Unicode("").tag(sync=True)  # "L.H": that head's pattern over the game; "": none
    result = traitlets.Dict().tag(sync=True)
    attention = traitlets.Dict().tag(sync=True)  # /api/attention's answer for ``head``, or {}
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model: Any = None, backend: ExplorerBackend | None = None, **state: Any) -> None:
        if backend is None:
            from othello.model.checkpoints import load_model

            backend = ExplorerBackend(model if model is not None else load_model())
        self._backend = backend
        self._errors = {"analyze": "", "attention": ""}  # each view's own, so that one's success clears only its own
        super().__init__(**state)
        self.observe(self._update, names=["moves", "edits", "labelling", "method", "writes", "edit_layers"])
        self.observe(self._update_attention, names=["moves", "head"])
        self._update()
        self._update_attention()

    def _update(self, change: Any = None) -> None:
        try:
            request = AnalyzeRequest(
                moves=self.moves,
                labelling=self.labelling,
                edits=self.edits,
                method=self.method,
                writes=self.writes,
                layers=self.edit_layers or None,
            )
            self.result = self._backend.analyze(request)
            self._show_error("analyze", "")
        except (OthelloError, ValueError) as error:  # pydantic's ValidationError is a ValueError
            self._show_error("analyze", str(error))

    def _update_attention(self, change: Any = None) -> None:
        attention, message = {}, ""
        if self.head and self.moves.strip():
            try:
                layer, head = parse_head(self.head)
                attention = self._backend.attention(AttentionRequest(moves=self.moves, layer=layer, head=head))
            except (OthelloError, ValueError) as error:
                message = str(error)
        self.attention = attention  # set once: each set is a message to the page
        self._show_error("attention", message)

    def _show_error(self, view: str, message: str) -> None:
        self._errors[view] = message.splitlines()[0] if message else ""
        self.error = self._errors["analyze"] or self._errors["attention"]
