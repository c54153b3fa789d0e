"""The explorer's web server: a JSON API (documented at ``/docs``) and the page, from ``create_app(backend)``.

    ```python
    app = create_app(ExplorerBackend(load_model(), name="small8"))      # tests use it without a server
    serve(app, port=8000)                                              # othello-gpt explore
    ```

Bad input answers 4xx with a message (``{"detail": ...}``), never a 500. Slow requests (gradient edits) run off
the event loop with a time limit, so the page stays responsive. The server reads no path from a request and
serves no file outside its static folder.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from othello.errors import OthelloError
from othello.explorer.circuits import GameRequest, PatchRequest
from othello.explorer.graph import AblateRequest, GraphRequest
from othello.explorer.sae import ActiveRequest
from othello.explorer.service import AnalyzeRequest, AttentionRequest, ExplorerBackend, ExplorerError

__all__ = ["create_app", "serve", "Background", "STATIC", "MAX_BODY", "TIME_LIMIT_S"]

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024  # bytes
TIME_LIMIT_S = 60.0
CIRCUITS_TIME_LIMIT_S = 600.0  # a layer's neuron profiles, computed once per layer, take a minute or two on CPU


def create_app(backend: ExplorerBackend, time_limit_s: float = TIME_LIMIT_S) -> FastAPI:
    app = FastAPI(
        title="othello-gpt explorer",
        version="1",
        description="Play a position, see the board the model believes, edit it, watch the moves change.",
    )

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"detail": f"request body over {MAX_BODY // 1024} KB"}, status_code=413)
        if request.method == "POST" and length is None:
            body = await request.body()
            if len(body) > MAX_BODY:
                return JSONResponse({"detail": f"request body over {MAX_BODY // 1024} KB"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(OthelloError)
    async def bad_input(request: Request, error: OthelloError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, which cannot be written as JSON when it is NaN or Infinity (the
        # server then answered 500): each problem as "field: message", without the input
        problems = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "invalid"))} for e in error.errors()
        ]
        text = "; ".join(f"{'.'.join(p['loc'][1:]) or p['loc'][0]}: {p['msg']}" for p in problems)
        return JSONResponse({"detail": text, "problems": problems}, status_code=422)

    async def off_loop(fn: Callable[..., Any], *args: Any, limit: float | None = None, stoppable: bool = False) -> Any:
        """Run ``fn(*args)`` in a worker thread within the time limit. A ``stoppable`` function is also given
        ``stop``, which answers True once the request has timed out, so that its work ends instead of running on
        after the 408 (a thread cannot be killed from outside)."""
        limit = time_limit_s if limit is None else max(time_limit_s, limit)
        timed_out = threading.Event()
        call = functools.partial(fn, *args, stop=timed_out.is_set) if stoppable else functools.partial(fn, *args)
        try:
            # a JSONResponse of the plain dict: FastAPI's own encoder walks every value and took a fifth of the time
            return JSONResponse(await asyncio.wait_for(run_in_threadpool(call), timeout=limit))
        except asyncio.TimeoutError:
            timed_out.set()
            return JSONResponse(
                {"detail": f"the request took longer than {limit:g} s; try fewer layers or steps"},
                status_code=408,
            )

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        """The model, its layers and heads, the probe sites and labellings, the edit defaults."""
        return backend.info()

    @app.post("/api/analyze")
    async def analyze(request: AnalyzeRequest) -> Any:
        """Board, next mover, legal moves, probabilities, every layer's read-out; with edits, ``edited``."""
        return await off_loop(backend.analyze, request, stoppable=True)

    @app.post("/api/attention")
    async def attention(request: AttentionRequest) -> Any:
        """One head's attention pattern over the game, rows and columns labelled with the moves."""
        return await off_loop(backend.attention, request)

    @app.get("/api/neurons")
    async def neurons(layer: int, sort: str = "r2", top: int = 50) -> Any:
        """The neuron table of block ``layer``'s MLP: rule, held-out R^2, probe-subspace share; sorted by ``sort``
        ("r2" or "share"). The first call for a layer computes its profiles (a minute or two on CPU)."""
        return await off_loop(backend.circuits.neurons, layer, sort, top, limit=CIRCUITS_TIME_LIMIT_S)

    @app.get("/api/neuron/{layer}/{neuron}")
    async def neuron(layer: int, neuron: int) -> Any:
        """One neuron's page: its maps by square state, its weights in the probe basis, spectrum and top boards."""
        return await off_loop(backend.circuits.neuron, layer, neuron, limit=CIRCUITS_TIME_LIMIT_S)

    @app.get("/api/head-classes")
    async def head_classes() -> Any:
        """Every head's class (mine / theirs / last / other) and the scores behind it."""
        return await off_loop(backend.circuits.heads, limit=CIRCUITS_TIME_LIMIT_S)

    @app.post("/api/corruptible")
    async def corruptible(request: GameRequest) -> Any:
        """The moves of the game the Patch panel can corrupt."""
        return await off_loop(backend.circuits.corruptible, request)

    @app.post("/api/patch")
    async def patch(request: PatchRequest) -> Any:
        """Activation patching of the game against itself with one move replaced: layer x position grids."""
        return await off_loop(backend.circuits.patch, request)

    def sae_views() -> Any:
        if backend.sae is None:
            raise ExplorerError("no SAE: start the explorer with --sae RUN (a folder written by othello-gpt sae train)")
        return backend.sae

    @app.get("/api/sae/feature/{latent}")
    async def sae_feature(latent: int) -> Any:
        """One latent: its F1 for every board property (8x8 maps), top-activating boards, decoder cosines."""
        return await off_loop(sae_views().feature, latent, limit=CIRCUITS_TIME_LIMIT_S)

    @app.post("/api/sae/active")
    async def sae_active(request: ActiveRequest) -> Any:
        """The most active latents at each position of the game."""
        return await off_loop(sae_views().active, request)

    def graph_views() -> Any:
        if backend.graph is None:
            raise ExplorerError(
                "no transcoders: make a set with othello-gpt transcoders train (and transcoders eval for board "
                "labels), then start the explorer with --transcoders DIR"
            )
        return backend.graph

    @app.post("/api/graph")
    async def graph(request: GraphRequest) -> Any:
        """The attribution graph of a move after the game: kept nodes, strongest edges, board-labelled
        supernodes, the replacement and completeness scores."""
        return await off_loop(graph_views().graph, request)

    @app.post("/api/graph/ablate")
    async def graph_ablate(request: AblateRequest) -> Any:
        """The next-move probabilities before and after the given transcoder latents are set to 0."""
        return await off_loop(graph_views().ablate, request)

    @app.get("/api/graph/latent/{block}/{latent}")
    async def graph_latent(block: int, latent: int) -> Any:
        """One transcoder latent: its F1 for every board property (8x8 maps) and its top-activating boards."""
        return await off_loop(graph_views().latent, block, latent, limit=CIRCUITS_TIME_LIMIT_S)

    @app.get("/api/random")
    async def random_game(seed: int | None = Query(None, ge=0, le=2**63 - 1)) -> dict[str, Any]:
        """A uniformly random legal game (``seed``: which one)."""
        return backend.random_game(seed)

    @app.get("/api/game/{index}")
    async def game(index: int) -> dict[str, Any]:
        """Game ``index`` of the file given with ``--data``."""
        return backend.game(index)

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")
    return app


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run ``app`` until Ctrl-C; prints the URL first."""
    import uvicorn

    print(f"othello-gpt explorer: http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


class Background:
    """A server running in a thread (tests, scripts, notebooks): ``url``; ``stop()`` ends it."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket
        import threading
        import time

        import uvicorn

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.time() + 30
        while not self._server.started and time.time() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
