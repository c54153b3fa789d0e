"""The explorer's Graph panel: the graph, the ablation and the latent page through the API, bad input answered 4xx,
answers unchanged by requests running beside them, and the panel in headless Chromium."""

import json
import shutil

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from othello.engine.notation import square_name
from othello.explorer.graph import MAX_EDGES
from othello.explorer.server import Background, create_app
from othello.explorer.service import ExplorerBackend
from othello.model import build_model, preset
from othello.model.tokens import move_probabilities
from othello.probes.fit import ProbeConfig
from othello.sae.config import SAETrainConfig
from othello.sae.evaluate import PROPERTY_NAMES
from othello.sae.graph import build_graph, prune_graph
from othello.sae.runs import write_features
from othello.sae.transcoders import load_transcoders, train_transcoders

FAST = ProbeConfig(epochs=1, hidden=16)
GAME = "f5 d6 c3 d3 c4"
LABEL = "e4 mine"  # planted: every latent's best property, so kept latents at one position form a supernode


@pytest.fixture(scope="module")
def model_and_set(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(preset("tiny"))
    out = tmp_path_factory.mktemp("transcoders")
    base = SAETrainConfig(latents=64, k=4, tokens=3 * 128, batch_size=128, chunk_games=4, checkpoint_every=2)
    train_transcoders(model, range(model.cfg.n_layers), base, out, progress=False)
    f1 = np.zeros((64, len(PROPERTY_NAMES)), np.float32)
    f1[:, PROPERTY_NAMES.index(LABEL)] = 0.9
    for block in range(model.cfg.n_layers):
        write_features(out / f"block_{block}", {"f1": f1, "fires": np.ones(64)})
    return model, out


@pytest.fixture(scope="module")
def backend(model_and_set):
    model, out = model_and_set
    return ExplorerBackend(model, probe_games=80, probe_config=FAST, progress=False, transcoders=out)


@pytest.fixture(scope="module")
def client(backend):
    return TestClient(create_app(backend), raise_server_exceptions=False)


def test_the_graph_answer_is_the_librarys_graph_laid_out(client, model_and_set):
    model, out = model_and_set
    assert client.get("/api/info").json()["graph"]["latents"] == 64
    g = client.post("/api/graph", json={"moves": GAME, "move": "f3"}).json()
    graph = build_graph(model, load_transcoders(out), GAME, "f3")
    keep, edges = prune_graph(graph)
    assert g["move"] == "f3" and g["moves"] == GAME and g["all_nodes"] == len(graph.nodes)
    assert sorted(n["id"] for n in g["nodes"]) == np.flatnonzero(keep).tolist()
    assert g["kept_edges"] == int(edges.sum()) and len(g["edges"]) == min(MAX_EDGES, int(edges.sum()))
    assert g["logit"] == pytest.approx(graph.logit, abs=1e-5) and 0 <= g["replacement"] <= 1
    kinds = {n["kind"] for n in g["nodes"]}
    assert {"logit", "embedding"} <= kinds
    assert all(n["label"].startswith(f"L{n['block']} #") for n in g["nodes"] if n["kind"] == "latent")
    assert g["supernodes"] and all(s["square"] == "e4" and s["state"] == "mine" for s in g["supernodes"])
    assert (
        g["board"]["c4"] == "black"
        and g["board"]["a1"] == "empty"
        and set(g["board"].values()) <= {"empty", "black", "white"}
    )
    top = client.post("/api/graph", json={"moves": GAME}).json()  # no move: the model's top one
    assert top["move"] == square_name(int(np.argmax(move_probabilities(model, GAME))))


def test_ablating_a_supernode_reruns_the_position(client, model_and_set):
    model, _ = model_and_set
    g = client.post("/api/graph", json={"moves": GAME, "move": "f3"}).json()
    nodes = {n["id"]: n for n in g["nodes"]}
    latents = [[nodes[i]["block"], nodes[i]["position"], nodes[i]["latent"]] for i in g["supernodes"][0]["nodes"]]
    r = client.post("/api/graph/ablate", json={"moves": GAME, "latents": latents}).json()
    clean = move_probabilities(model, GAME)
    assert r["ablated"] == len(latents)
    assert all(r["before"][square_name(s)] == pytest.approx(clean[s], abs=1e-4) for s in np.flatnonzero(clean > 1e-4))
    assert any(abs(r["after"][sq] - r["before"][sq]) > 1e-4 for sq in r["before"])


def test_a_latents_page(client):
    page = client.get("/api/graph/latent/1/3").json()
    assert page["block"] == 1 and page["hook"] == "blocks.1.ln2.hook_normalized"
    assert page["label"] == {"property": LABEL, "f1": pytest.approx(0.9)} and len(page["f1"]["mine"]) == 64
    assert page["rule"]["depth"] == 4 and page["rule"]["r2"] <= 1 and page["rule"]["text"]


@pytest.mark.parametrize(
    "path,body,message",
    [
        ("/api/graph", {"moves": "f5 f5"}, "moves"),
        ("/api/graph", {"moves": ""}, "1..59 moves"),
        ("/api/graph", {"moves": GAME, "move": "zz"}, "move"),
        ("/api/graph/ablate", {"moves": GAME, "latents": [[7, 0, 0]]}, "no block 7"),
        ("/api/graph/ablate", {"moves": GAME, "latents": [[0, 9, 0]]}, "position 9"),
        ("/api/graph/ablate", {"moves": GAME, "latents": [[0, 0, 64]]}, "no latent 64"),
        ("/api/graph/ablate", {"moves": "f5 zz", "latents": []}, "moves"),
    ],
)
def test_bad_input_answers_400_with_a_message(client, path, body, message):
    r = client.post(path, json=body)
    assert r.status_code == 400 and message in r.json()["detail"], r.text


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-1", "2", '"x"', "null", "[[1, 2]]", "1e300"])
def test_hostile_values_answer_4xx_never_500(client, value):
    bodies = {
        "/api/graph": {"moves": GAME, "move": "f3", "node_threshold": 0.8, "edge_threshold": 0.98},
        "/api/graph/ablate": {"moves": GAME, "latents": [[0, 0, 0]]},
    }
    for path, body in bodies.items():
        for field in body:
            raw = json.dumps({**body, field: "__V__"}).replace('"__V__"', value)
            r = client.post(path, content=raw, headers={"content-type": "application/json"})
            assert r.status_code < 500, (path, field, value, r.text[:200])
            json.loads(r.text)
    for path in ("/api/graph/latent/-1/0", "/api/graph/latent/0/99999", "/api/graph/latent/x/0"):
        assert 400 <= client.get(path).status_code < 500


def test_without_transcoders_the_panel_says_what_to_do(model_and_set):
    model, _ = model_and_set
    plain = TestClient(create_app(ExplorerBackend(model, probe_games=80, probe_config=FAST, progress=False)))
    assert plain.get("/api/info").json()["graph"] is None
    r = plain.post("/api/graph", json={"moves": GAME})
    assert r.status_code == 400 and "--transcoders" in r.json()["detail"] and "transcoders train" in r.json()["detail"]


@pytest.mark.slow
def test_graphs_and_ablations_beside_edits_answer_as_each_alone(backend):
    """Graphs, ablations and gradient edits at once: each answer equals the same request made alone (no request
    sees another's hooks)."""
    from concurrent.futures import ThreadPoolExecutor

    client = TestClient(create_app(backend), raise_server_exceptions=False)
    edit = {"moves": GAME, "edits": [{"square": "d4"}], "method": "gradient", "layers": "1"}
    plain = {"moves": GAME}
    g = client.post("/api/graph", json={"moves": GAME, "move": "f3"}).json()
    nodes = {n["id"]: n for n in g["nodes"]}
    latents = [[nodes[i]["block"], nodes[i]["position"], nodes[i]["latent"]] for i in g["supernodes"][0]["nodes"]]
    calls = [
        ("/api/analyze", plain),
        ("/api/analyze", edit),
        ("/api/graph", {"moves": GAME, "move": "f3"}),
        ("/api/graph/ablate", {"moves": GAME, "latents": latents}),
    ]
    alone = [client.post(path, json=body).json() for path, body in calls]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda c: client.post(c[0], json=c[1]).json(), calls * 4))
    for k, answer in enumerate(together):
        expected = alone[k % len(calls)]
        for key in ("probabilities", "before", "after", "nodes", "edges", "logit"):
            if key in expected:
                assert answer[key] == expected[key], (calls[k % len(calls)][0], key)


CHROMIUM = shutil.which("chromium")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium found (Debian: apt-get install chromium)")
def test_the_graph_panel_in_headless_chromium(backend, model_and_set):
    """Build the graph of the current position, see nodes, edges and supernode boxes with their boards, ablate a
    supernode and see the new probabilities, open a latent's page."""
    from playwright.sync_api import sync_playwright

    running = Background(create_app(backend))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1300, "height": 2400})
            page.goto(running.url + "/#m=" + "".join(GAME.split()))
            page.wait_for_selector("body[data-ready='1']")
            page.fill("#graph-move", "f3")
            page.click("#show-graph")
            page.wait_for_selector("#graph-svg circle[data-kind='latent']")
            assert "replacement score" in page.text_content("#graph-scores")
            assert page.query_selector("#graph-svg circle[data-kind='logit']") is not None
            assert page.eval_on_selector_all("#graph-svg line", "e => e.length") > 0
            assert page.eval_on_selector_all("#graph-svg rect[data-supernode]", "e => e.length") > 0
            assert "node area: influence on the logit" in page.text_content("#graph-svg")
            assert LABEL in page.text_content("#graph-supernodes")
            assert page.query_selector("#graph-supernodes svg rect[data-supernode-square='e4']") is not None
            page.click("#graph-supernodes button[data-ablate='0']")
            page.wait_for_selector("#graph-ablated rect[data-ablated-square]")
            assert "ablated" in page.text_content("#graph-ablated-caption")
            assert "next-move probability" in page.text_content("#graph-ablated .scale-bar")
            page.click("#graph-svg circle[data-kind='latent']")
            page.wait_for_selector("#graph-latent-maps svg")
            assert "transcoder latent" in page.text_content("#graph-latent-title")
            assert "rule:" in page.text_content("#graph-latent-title")
            assert page.text_content("#graph-error") == ""
            browser.close()
    finally:
        running.stop()
