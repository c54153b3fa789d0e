"""The explorer: a live page (and a notebook widget) to play a position, see the board the model believes, edit it
and watch its moves change.

- ``service``: ``ExplorerBackend``, what one position computes (board, moves, read-outs, edits, attention).
- ``server``: ``create_app`` (FastAPI, a JSON API documented at ``/docs``) and ``serve`` (uvicorn).
- ``widget``: ``Explorer``, the same views as a Jupyter widget (anywidget).
- ``static/``: the page (plain HTML, JS modules and SVG; no build step, no CDN).
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.explorer.service": ["ExplorerBackend", "AnalyzeRequest", "AttentionRequest"],
        "othello.explorer.server": ["create_app", "serve"],
        "othello.explorer.widget": ["Explorer"],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.explorer.server import create_app, serve
    from othello.explorer.service import AnalyzeRequest, AttentionRequest, ExplorerBackend
    from othello.explorer.widget import Explorer
