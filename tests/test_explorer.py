"""The explorer's API through the framework's test client, the notebook widget, and the page in headless Chromium."""

import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from othello.data.datasets import generate
from othello.engine.board import Board
from othello.engine.notation import square_name
from othello.explorer.server import Background, create_app
from othello.explorer.service import ExplorerBackend
from othello.model import build_model, preset
from othello.probes.fit import ProbeConfig
from othello.probes.interventions.apply import intervene
from othello.probes.interventions.edits import EditSetting

FAST = ProbeConfig(epochs=1, hidden=16)
GAME = "f5 d6 c3 d3 c4"


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    data = generate(tmp_path_factory.mktemp("games") / "g.h5", 5, seed=2, progress=False)
    return ExplorerBackend(
        build_model(preset("tiny")),
        name="tiny",
        data=data,
        probe_games=80,
        probe_config=FAST,
        progress=False,
        circuit_games=8,
    )


@pytest.fixture(scope="module")
def client(backend):
    return TestClient(create_app(backend), raise_server_exceptions=False)


def _concurrent(fn, bodies, threads=8):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, bodies))


@pytest.mark.slow
def test_concurrent_plain_and_edited_requests_answer_as_each_alone(backend):
    """No request sees another's hooks: plain reads, linear and gradient edits of one game, run in eight threads
    at once (two rounds of 12), each answer exactly the one the same request gets alone."""
    from othello.explorer.service import AnalyzeRequest

    edit = {"moves": GAME, "edits": [{"square": "e4"}], "layers": "1-2"}
    bodies = [
        {"moves": GAME},
        {"moves": GAME, "labelling": "colour"},
        edit,
        {**edit, "method": "gradient", "writes": "board"},
        {"moves": "f5 d6 c3 d3"},
        {**edit, "writes": "square"},
    ]
    alone = [backend.analyze(AnalyzeRequest(**b)) for b in bodies]
    order = [i % len(bodies) for i in range(12)]
    for _ in range(2):
        answers = _concurrent(lambda i: backend.analyze(AnalyzeRequest(**bodies[i])), order)
        for i, answer in zip(order, answers):
            assert answer == alone[i], f"request {bodies[i]} answered differently beside the others"
    assert backend.pool.lent == 0


@pytest.mark.slow
def test_a_timed_out_edit_stops_and_leaks_into_no_answer(backend, monkeypatch):
    """A gradient edit past the time limit answers 408, then really stops (the edit's own check raises and its copy
    of the model comes back), and plain requests during and after it answer as alone."""
    import time

    from othello.explorer.service import AnalyzeRequest
    from othello.probes.interventions import apply

    stopped, check = [], apply._check_stop

    def recording(stop):
        try:
            check(stop)
        except Exception:
            stopped.append(True)
            raise

    slow = TestClient(create_app(backend, time_limit_s=0.05), raise_server_exceptions=False)
    plain = backend.analyze(AnalyzeRequest(moves=GAME))
    gradient = {"moves": GAME, "edits": [{"square": "e4"}], "method": "gradient", "writes": "board", "layers": "1-2"}
    alone = backend.analyze(AnalyzeRequest(**gradient))
    monkeypatch.setattr(apply, "_check_stop", recording)
    r = slow.post("/api/analyze", json=gradient)
    assert r.status_code == 408 and "longer than" in r.json()["detail"]
    assert backend.analyze(AnalyzeRequest(moves=GAME)) == plain
    deadline = time.monotonic() + 10
    while (backend.pool.lent or not stopped) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stopped and backend.pool.lent == 0, "the timed-out edit ran on"
    assert backend.analyze(AnalyzeRequest(**gradient)) == alone


def test_an_edit_asked_to_stop_raises_at_its_next_step(backend):
    from othello.explorer.service import AnalyzeRequest
    from othello.probes.interventions.edits import EditError

    gradient = {"moves": GAME, "edits": [{"square": "e4"}], "method": "gradient", "writes": "board", "layers": "1-2"}
    with pytest.raises(EditError, match="stopped before it finished"):
        backend.analyze(AnalyzeRequest(**gradient), stop=lambda: True)
    assert backend.pool.lent == 0


def test_info(client):
    info = client.get("/api/info").json()
    assert info["model"] == "tiny" and info["n_layers"] == 2 and info["sites"] == ["resid_post", "resid_mid"]
    assert info["labellings"] == ["relative", "colour"] and info["games"] == 5 and info["defaults"]["layers"] == "1-2"


def test_circuits_views(client):
    table = client.get("/api/neurons", params={"layer": 1, "sort": "share", "top": 5}).json()
    assert table["block"] == table["layer"] == 1 and table["hook"] == "blocks.1.mlp.hook_post"
    assert len(table["rows"]) == 5 and table["sort"] == "subspace_share"
    shares = [r["subspace_share"] for r in table["rows"]]
    assert shares == sorted(shares, reverse=True) and {"r2", "rule", "top_squares"} <= set(table["rows"][0])
    page = client.get("/api/neuron/1/3").json()
    assert page["neuron"] == 3 and len(page["conditional"]["mine"]) == 64 and "c4" in page["weights"]["out_moves"]
    assert set(page["examples"][0]["board"].values()) <= {"empty", "black", "white"}
    classes = client.get("/api/head-classes").json()
    assert len(classes) == 2 * 2 and {c["kind"] for c in classes} <= {"mine", "theirs", "last", "other"}
    game = "f5 d6 c3 g5 e6 f3 c4 d7 c7 b3 e7 f7 f4 c2 c5 g4 a2 b4 f6 d8"
    patch = client.post("/api/patch", json={"moves": game, "corrupt": "c2"}).json()
    assert patch["shape"] == [2, 20] and set(patch["grids"]) == {"resid_pre", "attn_out", "mlp_out"}
    assert patch["replaced"] == {"ply": 14, "played": "c2", "instead": patch["replaced"]["instead"]}
    assert patch["replaced"]["instead"] != "c2" and len(patch["grids"]["resid_pre"][0]) == 20
    # positions before the corrupted move read the same moves: patching them changes nothing
    assert all(abs(v) < 1e-3 for row in patch["grids"]["resid_pre"] for v in row[:13])
    assert {"gap", "normalised", "scale", "warning"} <= set(patch)
    assert patch["normalised"] == (patch["gap"] >= 0.5) and ("0 = corrupted" in patch["scale"]) == patch["normalised"]
    from othello.circuits.patching import corrupted_games

    offered = client.post("/api/corruptible", json={"moves": game}).json()["moves"]
    squares = game.split()
    assert "c2" in offered and offered == [m for i, m in enumerate(squares) if corrupted_games(game, i)]
    assert len(offered) < len(squares)  # most moves of a game have no alternative that keeps the rest legal
    for bad in (
        client.get("/api/neurons", params={"layer": 9}),
        client.get("/api/neurons", params={"layer": 0, "sort": "x"}),
        client.get("/api/neuron/0/99999"),
        client.post("/api/patch", json={"moves": game, "corrupt": "h8"}),
        client.post("/api/patch", json={"moves": game, "corrupt": "zz"}),
        client.post("/api/patch", json={"moves": "f5 f5", "corrupt": "f5"}),
        client.post("/api/patch", json={"moves": game, "corrupt": "f5"}),
        client.post("/api/corruptible", json={"moves": "f5 f5"}),
        client.post("/api/corruptible", json={"moves": "f5 zz"}),
    ):
        assert 400 <= bad.status_code < 500, bad.text
        assert bad.json()["detail"]


def test_analyze_gives_every_field_of_the_contract(client):
    r = client.post("/api/analyze", json={"moves": GAME, "labelling": "relative"})
    assert r.status_code == 200
    data = r.json()
    board = Board(GAME)
    names = {0: "empty", 1: "black", 2: "white"}
    assert data["board"] == {square_name(s): names[c] for s, c in enumerate(board.to_array())}
    assert data["next_mover"] == "white" and data["legal"] == [square_name(s) for s in sorted(board.legal_moves)]
    probs = data["probabilities"]
    assert abs(sum(probs.values()) - 1) < 1e-3 and "d4" not in probs and all(p >= 0 for p in probs.values())
    assert [(p["layer"], p["site"]) for p in data["probes"]] == [
        (0, "resid_post"),
        (1, "resid_post"),
        (2, "resid_post"),
        (1, "resid_mid"),
        (2, "resid_mid"),
    ]
    for p in data["probes"]:
        assert len(p["read"]) == 64 and set(p["read"].values()) <= {"empty", "mine", "theirs"}
        assert all(0 <= c <= 1 for c in p["confidence"].values()) and p["accuracy"] == 1 - len(p["misread"]) / 64
    assert data["top"][0]["square"] == max(probs, key=probs.get) and data["top_legal"] == data["top"][0]["legal"]
    colour = client.post("/api/analyze", json={"moves": GAME, "labelling": "colour"}).json()
    assert set(colour["probes"][0]["read"].values()) <= {"empty", "black", "white"}
    start = client.post("/api/analyze", json={"moves": ""}).json()
    assert start["probabilities"] is None and start["legal"] == ["d3", "c4", "f5", "e6"] and start["probes"] == []


def test_edit_numbers_equal_the_library(client, backend):
    body = {
        "moves": GAME,
        "edits": [{"square": "d4", "op": "flip"}],
        "method": "linear",
        "layers": "1-2",
        "writes": "square",
        "scale": 2.0,
        "positions": 1,
    }
    edited = client.post("/api/analyze", json=body).json()["edited"]
    r = intervene(backend.model, GAME, "d4", backend.edit_probes["linear"], EditSetting("linear", (1, 2), scale=2.0))
    assert edited["error_after"] == r.error and edited["error_before"] == r.null_error
    assert edited["legal"] == [square_name(s) for s in r.legal_after]
    after = np.array([edited["probabilities"].get(square_name(s), 0.0) for s in range(64)])
    assert np.allclose(after, r.probs_after, atol=1e-4)
    two = client.post(
        "/api/analyze", json={**body, "edits": [{"square": "d4", "op": "flip"}, {"square": "e5", "op": "erase"}]}
    ).json()["edited"]
    assert two["board"]["e5"] == "empty" and two["board"]["d4"] != edited["board"]["e5"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"moves": "f5 z9"}, "z9"),
        ({"moves": "f5 f5"}, "ply 2"),
        ({"moves": " ".join(["f5"] * 61)}, "at most 60"),
        ({"moves": GAME, "edits": [{"square": "e4"}], "layers": "1-9"}, "'1-9': 9 is out of range: expected 1..2"),
        ({"moves": GAME, "edits": [{"square": "a1"}]}, "a1 is empty"),
        ({"moves": GAME, "edits": [{"square": "q1"}]}, "q1"),
        ({"moves": GAME, "edits": [{"square": "e4"}], "method": "gradient", "writes": "square"}, "whole board"),
        ({"moves": "", "edits": [{"square": "e4"}]}, "at least one move"),
    ],
)
def test_bad_input_answers_400_with_a_message(client, body, message):
    r = client.post("/api/analyze", json=body)
    assert r.status_code == 400 and message in r.json()["detail"]


def test_other_bad_requests_are_4xx_never_500(client):
    assert (
        client.post("/api/analyze", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert client.post("/api/analyze", json={"moves": 5, "labelling": "mine"}).status_code == 422
    assert (
        client.post("/api/analyze", json={"moves": GAME, "edits": [{"square": "e4", "op": "melt"}]}).status_code == 422
    )
    big = client.post("/api/analyze", json={"moves": "f5 " * 30000})
    assert big.status_code == 413 and "64 KB" in big.json()["detail"]
    assert client.post("/api/attention", json={"moves": GAME, "layer": 5, "head": 0}).status_code == 400
    assert client.get("/api/game/99").status_code == 400 and client.get("/api/game/x").status_code == 422
    assert client.get("/../README.md").status_code == 404 and client.get("/%2e%2e/README.md").status_code == 404


def test_games_random_games_and_attention(client):
    game = client.get("/api/game/0").json()["moves"]
    Board(game)  # a legal game
    assert client.get("/api/random", params={"seed": 3}).json() == client.get("/api/random", params={"seed": 3}).json()
    a = client.post("/api/attention", json={"moves": GAME, "layer": 1, "head": 1}).json()
    assert a["labels"] == GAME.split() and len(a["pattern"]) == 5
    assert a["block"] == 1 and a["hook"] == "blocks.1.attn.hook_pattern"
    for q, row in enumerate(a["pattern"]):
        assert abs(sum(row) - 1) < 1e-3 and all(w == 0 for w in row[q + 1 :])  # causal: no look ahead


def test_the_page_is_served_with_its_modules(client):
    page = client.get("/").text
    assert (
        "othello-gpt explorer" in page
        and 'id="board"' in page
        and "http" not in page.split("<body>")[1].split("</body>")[0].replace("https://", "")
    )
    for name in ("board.js", "explorer.js", "style.css"):
        assert client.get(f"/{name}").status_code == 200
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/info", "/api/analyze", "/api/attention"}


def test_widget_state_is_read_and_set_from_python(backend):
    from othello.explorer.widget import Explorer

    w = Explorer(backend=backend)
    assert w.result["legal"] == ["d3", "c4", "f5", "e6"] and w.error == ""
    w.moves = GAME
    assert w.result["next_mover"] == "white" and len(w.result["probes"]) == 5
    w.head = "1.0"
    assert w.attention["labels"] == GAME.split() and len(w.attention["pattern"]) == 5 and w.error == ""
    w.head = "9.0"
    assert w.attention == {} and "no head 9.0" in w.error
    w.head = ""
    assert w.error == ""  # a head's error goes with it
    w.edits = [{"square": "d4", "op": "flip"}]
    assert "edited" in w.result and w.result["edited"]["board"]["d4"] != w.result["board"]["d4"]
    w.moves = "f5 f5"
    assert "ply 2" in w.error and w.result["moves"] == GAME.split()  # the last good position stays
    assert "export default" in Explorer._esm and "function drawBoard" in Explorer._esm


def test_explore_command_parses_its_flags(capsys):
    from othello.cli.entry import build_parser

    args = build_parser().parse_args(["explore", "--port", "8123", "--data", "g.h5"])
    assert args.port == 8123 and args.host == "127.0.0.1" and args.data == "g.h5"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["explore", "--port", "0"])
    assert "argument --port" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ the page, live

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def server(backend):
    running = Background(create_app(backend))
    yield running.url
    running.stop()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium found (Debian: apt-get install chromium)")
def test_the_page_in_headless_chromium(server, tmp_path):
    """Load the page, play three moves by clicking squares, watch the probabilities change, open a layer, flip a
    square of the internal board, and see the edited probabilities appear."""
    import os

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1300, "height": 1700})
        page.goto(server + "/#m=f5")
        page.wait_for_selector("body[data-ready='1']")
        probs = lambda: page.eval_on_selector_all("#board [data-prob]", "e => e.map(x => x.dataset.prob).join()")  # noqa: E731
        board = Board("f5")
        for _ in range(3):
            before = probs()
            square = square_name(sorted(board.legal_moves)[0])
            page.click(f"#board [data-square='{square}']")
            board.push(square)
            played = f"after {len(board.moves)} moves"
            page.wait_for_function(f"document.querySelector('#status').textContent.includes('{played}')")
            assert probs() != before
        assert page.url.endswith("#m=" + "".join(square_name(s) for s in board.moves))
        page.click("#layer-strip figure[data-layer='1']")
        assert "layer 1" in page.text_content("#layer-accuracy")
        disc = next(square_name(s) for s in range(64) if board.colour_at(s))
        page.click(f"#probe-board [data-probe-square='{disc}']")
        page.click("#edit-flip")
        page.wait_for_selector("#edited-board [data-edited-square]")
        assert "before ->" in page.text_content("#edit-error")
        assert "e=" + disc in page.url
        page.click("#show-heads")
        page.wait_for_selector("#attention rect")
        assert "attention weight" in page.text_content("#attention .scale-bar")  # every heatmap has its scale
        assert "probability of the move (%)" in page.text_content("#board .scale-bar")
        page.click("#show-classes")
        page.wait_for_selector("#head-classes div[data-head='1.1']")
        page.select_option("#neuron-layer", "1")
        page.click("#show-neurons")
        page.wait_for_selector("#neuron-table tr[data-neuron]")
        page.click("#neuron-table tr[data-neuron]")
        page.wait_for_selector("#neuron-maps svg")
        assert "rule:" in page.text_content("#neuron-title")
        assert page.eval_on_selector_all("#neuron-maps svg.board", "e => e.length") == 7
        scales = page.eval_on_selector_all("#neuron-maps svg.colour-scale", "ss => ss.map(s => s.textContent)")
        assert len(scales) == 7 and any("logit units" in s for s in scales)
        titles = "ss => ss.map(s => s.querySelector('text').textContent)"  # each board's caption, drawn first
        captions = page.eval_on_selector_all("#neuron-examples svg", titles)
        assert captions and all("to move after" in c or "game over" in c for c in captions)  # whose move it is
        page.click("#paste")
        page.fill("#paste", "f5 d6 c3 g5 e6 f3 c4 d7 c7 b3 e7 f7 f4 c2 c5 g4 a2 b4 f6 d8")
        page.click("#paste-go")
        page.wait_for_function("document.querySelector('#status').textContent.includes('after 20 moves')")
        # only the moves with a legal alternative are offered, once the server has said which
        page.wait_for_function("[...document.querySelectorAll('#patch-move option')].some(o => o.value === 'c2')")
        assert "f5" not in page.eval_on_selector_all("#patch-move option", "os => os.map(o => o.value)")
        page.fill("#patch-target", "zz")  # a bad target: the error stands beside the patch controls
        page.click("#show-patch")
        page.wait_for_function("document.querySelector('#patch-error').textContent.includes('zz')")
        page.fill("#patch-target", "")
        page.select_option("#patch-move", "c2")
        page.click("#show-patch")
        page.wait_for_selector("#patch-grids svg[data-site='mlp_out'] rect")
        assert "c2 (move 14)" in page.text_content("#patch-status") and page.text_content("#patch-error") == ""
        assert page.query_selector("#patch-grids svg.colour-scale") is not None
        page.fill("#paste", "f5 d6 c3 zz")  # an unknown move: refused beside the box, nothing played
        page.click("#paste-go")
        assert '"zz" is not a move' in page.text_content("#paste-error")
        assert "after 20 moves" in page.text_content("#status")
        shot = os.environ.get("OTHELLO_GPT_SCREENSHOT") or str(tmp_path / "explorer.png")
        page.screenshot(path=shot, full_page=True)
        browser.close()
    data = open(shot, "rb").read()
    assert data[:4] == b"\x89PNG" and len(data) > 50_000


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium found (Debian: apt-get install chromium)")
def test_the_notebook_widget_in_headless_chromium(backend):
    """The widget's module rendered in Chromium against a stand-in for anywidget's model (get / set / on /
    save_changes, with set firing change events as anywidget's does): the boards and the layer strip are drawn from
    the Python side's ``result``, the head's pattern from its ``attention``; clicks on the board and on the strip
    set the traits; a layer set from Python redraws the read-out."""
    from playwright.sync_api import sync_playwright

    from othello.explorer.widget import Explorer

    w = Explorer(backend=backend, moves=GAME, head="1.0")
    names = ("moves", "edits", "labelling", "site", "layer", "result", "attention", "error")
    state = {name: getattr(w, name) for name in names}
    layers = [p["layer"] for p in w.result["probes"] if p["site"] == w.site]
    start = """async ([esm, state]) => {
        const handlers = {};
        window.saved = 0;
        window.state = state;
        const model = {
            get: (k) => state[k],
            set: (k, v) => { state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); },
            on: (event, f) => { (handlers[event] ||= []).push(f); },
            save_changes: () => { window.saved += 1; },
        };
        window.model = model;
        const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
        (await import(url)).default.render({ model, el: document.getElementById("root") });
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_content("<div id='root'></div>")
        page.evaluate(start, [Explorer._esm, state])
        title = lambda: page.text_content("svg[data-view='probe'] text")  # noqa: E731
        assert page.eval_on_selector_all("figure[data-layer]", "e => e.map(f => +f.dataset.layer)") == layers
        assert f"layer {layers[-1]} " in title()  # layer -1: the last
        assert (
            page.eval_on_selector_all("svg[data-view='attention'] rect[data-weight]", "e => e.length") == 5 * 6 // 2
        )  # q >= k
        page.click(f"figure[data-layer='{layers[1]}']")
        assert page.evaluate("window.state.layer") == layers[1] and f"layer {layers[1]} " in title()
        page.evaluate(f"window.model.set('layer', {layers[0]})")  # as a change from Python arrives
        assert f"layer {layers[0]} " in title()
        legal = w.result["legal"][0]
        page.click(f"svg[data-view='board'] [data-square='{legal}']")
        assert page.evaluate("window.state.moves") == f"{GAME} {legal}" and page.evaluate("window.saved") == 2
        browser.close()


def test_edit_layers_are_read_by_the_command_line_parser(client):
    r = client.post("/api/analyze", json={"moves": GAME, "edits": [{"square": "d4"}], "layers": "2-1"})
    assert r.status_code == 400 and "LOW-HIGH" in r.json()["detail"]


@pytest.mark.slow
def test_sae_views(tmp_path):
    from othello.sae.config import SAETrainConfig
    from othello.sae.train import train_sae

    model = build_model(preset("tiny"))
    run = tmp_path / "sae"
    cfg = SAETrainConfig(hook="blocks.1.hook_resid_mid", latents=32, k=4, tokens=4 * 256, batch_size=256, chunk_games=6)
    train_sae(model, cfg, run, progress=False)
    backend = ExplorerBackend(model, probe_games=80, probe_config=FAST, progress=False, sae_run=run)
    client = TestClient(create_app(backend), raise_server_exceptions=False)
    info = client.get("/api/info").json()["sae"]
    assert info["latents"] == 32 and info["hook"] == "blocks.1.hook_resid_mid" and not info["evaluated"]
    page = client.get("/api/sae/feature/3").json()
    assert page["latent"] == 3 and len(page["decoder_cosine"]["mine_dir"]) == 64
    assert all(set(ex["board"].values()) <= {"empty", "black", "white"} for ex in page["examples"])
    active = client.post("/api/sae/active", json={"moves": GAME, "top": 3}).json()
    assert [p["move"] for p in active["positions"]] == GAME.split()
    assert all(len(p["latents"]) <= 3 and all(x["activation"] > 0 for x in p["latents"]) for p in active["positions"])
    assert client.get("/api/sae/feature/999").status_code == 400
    assert client.post("/api/sae/active", json={"moves": "f5 f5"}).status_code == 400
    # without --sae the SAE views answer 400 with what to do
    plain = TestClient(create_app(ExplorerBackend(model, probe_games=80, probe_config=FAST, progress=False)))
    r = plain.get("/api/sae/feature/0")
    assert r.status_code == 400 and "--sae" in r.json()["detail"]


HOSTILE_NUMBERS = ["NaN", "Infinity", "-Infinity", "-1", str(2**64), "1e300", "0", '"7"', "null", "[]"]
BODIES = {
    "/api/analyze": {"moves": GAME, "edits": [{"square": "e4"}], "scale": 2.0, "positions": 5},
    "/api/attention": {"moves": GAME, "layer": 0, "head": 0},
    "/api/patch": {"moves": GAME, "corrupt": "c3"},
    "/api/corruptible": {"moves": GAME},
}


@pytest.mark.parametrize("path", sorted(BODIES))
@pytest.mark.parametrize("value", HOSTILE_NUMBERS)
def test_hostile_values_in_every_field_answer_4xx_with_json_never_500(client, path, value):
    """Each field of each request in turn replaced by a value JSON allows but the field does not (NaN, Infinity,
    negative, huge, wrong type): the answer is a 4xx whose body parses as strict JSON, or a 200."""
    import json

    for field in BODIES[path]:
        raw = json.dumps({**BODIES[path], field: "__VALUE__"}).replace('"__VALUE__"', value)
        r = client.post(path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code < 500, (path, field, value, r.text[:200])
        assert "NaN" not in r.text and "Infinity" not in r.text or r.status_code == 422, (path, field, r.text[:200])
        json.loads(r.text)


@pytest.mark.parametrize("seed", ["-1", str(2**64), "x"])
def test_a_random_game_of_a_seed_out_of_range_answers_422(client, seed):
    r = client.get("/api/random", params={"seed": seed})
    assert r.status_code == 422 and "seed" in r.json()["detail"]


@pytest.mark.slow
def test_twenty_parallel_gradient_edits_never_answer_500(backend):
    """Twenty at once, more than the model's copies (the rest wait for one): each answers, 200 or a time-out."""
    import time

    client = TestClient(create_app(backend, time_limit_s=5.0), raise_server_exceptions=False)
    body = {"moves": GAME, "edits": [{"square": "e4"}], "method": "gradient", "writes": "board", "layers": "1-2"}
    codes = _concurrent(lambda _: client.post("/api/analyze", json=body).status_code, range(20), threads=20)
    assert set(codes) <= {200, 408}
    deadline = time.monotonic() + 10
    while backend.pool.lent and time.monotonic() < deadline:  # the timed-out ones stop at their next step
        time.sleep(0.01)
    assert backend.pool.lent == 0
