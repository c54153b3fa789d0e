import json

import numpy as np
import pytest
import torch

from othello.engine.board import Board, real_mover_board
from othello.engine.games import random_games
from othello.engine.notation import parse_moves, parse_square, square_name, squares_to_tokens
from othello.model import build_model, preset, residual_hook
from othello.probes.fit import LinearProbe, ProbeConfig
from othello.probes.interventions.apply import _board_hook, _linear_hook, edited_move_probabilities, intervene
from othello.probes.interventions.edits import EditSetting, edit_board
from othello.probes.interventions.evaluation import benchmark, make_cases, moved_right, sweep_settings
from othello.probes.store import layer_probes
from othello.train.evaluation import legal_set_errors

FAST = ProbeConfig(epochs=2, hidden=32)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model(preset("tiny"))


@pytest.fixture(scope="module")
def linear_probes(tiny, tmp_path_factory):
    return layer_probes(
        tiny, "relative", "linear", games=120, config=FAST, cache=tmp_path_factory.mktemp("p"), progress=False
    )


def test_edit_board_keeps_the_mover_and_changes_one_square():
    board = real_mover_board(parse_moves("f5 d6 c3 d3 c4"))
    assert board.next_mover == 2
    flipped = edit_board(board, parse_square("d4"), "flip")
    assert flipped.next_mover == 2 and flipped.colour_at("d4") == 3 - board.colour_at("d4")
    assert sum(a != b for a, b in zip(board.to_array(), flipped.to_array())) == 1
    assert edit_board(board, parse_square("c3"), "erase").colour_at("c3") == 0
    with pytest.raises(ValueError, match="a1 is empty"):
        edit_board(board, 0, "flip")
    # a pass is made for the side that cannot move: the real next mover is the other side
    game = random_games(400, 11)
    lengths = (game >= 0).sum(1)
    for row, n in zip(game, lengths):
        b = Board(list(row[:n]))
        for t in range(1, n):
            b = Board(list(row[:t]))
            if b.must_pass():
                assert real_mover_board(list(row[:t])).next_mover == 3 - b.next_mover
                return
    pytest.fail("no pass found in 400 games")


def test_cases_follow_the_published_recipe_and_are_reproducible():
    games = random_games(300, 5)
    cases = make_cases(games, 60, seed=1)
    assert len(cases) == 60 and cases == make_cases(games, 60, seed=1)
    assert cases != make_cases(games, 60, seed=2)
    for c in cases:
        board, edited = c.boards()
        assert 5 <= len(c.moves) <= 30 and c.square != c.moves[-1] and board.colour_at(c.square) != 0
        assert set(edited.legal_moves) != set(board.legal_moves) and len(edited.legal_moves) > 0
        assert edited.next_mover == board.next_mover


def test_legal_set_errors_and_moved_right_by_hand():
    probs = np.zeros((2, 64))
    probs[0, [10, 11, 12]] = [0.5, 0.3, 0.2]
    probs[1, [10, 11, 12]] = [0.2, 0.3, 0.5]
    legal = np.zeros((2, 64), bool)
    legal[:, [10, 11]] = True
    assert legal_set_errors(probs, legal).tolist() == [0, 2]  # top-2 of case 1 holds 12 (FP) and misses 10 (FN)
    after = probs.copy()
    after[:, 12] = 0.9
    edited = legal.copy()
    edited[:, 12] = True  # 12 becomes legal: its probability rose in both cases
    assert moved_right(probs, after, legal, edited) == 1.0
    assert moved_right(after, probs, legal, edited) == 0.0
    # rounding between two computations of the same run is not a move: the unchanged run moves nothing right
    assert moved_right(probs, probs + 1e-7, legal, edited) == 0.0


def test_linear_edit_moves_the_probe_reading_across_its_boundary(linear_probes):
    probe = linear_probes[2]
    resid = torch.randn(3, 6, 32)
    rows, pos, sq = torch.tensor([0, 2]), torch.tensor([5, 3]), torch.tensor([7, 40])
    cur, tgt = torch.tensor([1, 2]), torch.tensor([2, 0])
    before = probe(resid[rows, pos])[torch.arange(2), sq]
    board = torch.zeros(2, 64, dtype=torch.long)
    board[torch.arange(2), sq] = tgt
    out = _linear_hook(probe, rows, pos, sq, cur, board, scale=3.0)(resid)
    after = probe(out[rows, pos])[torch.arange(2), sq]
    margin_before = before[torch.arange(2), cur] - before[torch.arange(2), tgt]
    margin_after = after[torch.arange(2), cur] - after[torch.arange(2), tgt]
    assert torch.allclose(margin_after, -3.0 * margin_before, atol=1e-4)
    untouched = torch.ones(3, 6, dtype=bool)
    untouched[rows, pos] = False
    assert torch.equal(out[untouched], resid[untouched])


def test_gradient_edit_makes_the_probe_read_the_edited_board(tiny):
    mlp = layer_probes(tiny, "colour", "mlp", layers=[1], games=120, config=FAST, progress=False)[1]
    x = torch.randn(2, 1, 32)
    board = mlp(x[:, 0]).argmax(-1)  # [2, 64]: what the probe reads now
    target = board.clone()
    target[0, 20] = 2 if board[0, 20] != 2 else 1
    target[1, 33] = 0 if board[1, 33] != 0 else 1
    kept = {}
    for reg in (0.0, 0.02):
        setting = EditSetting("gradient", (1,), steps=400, lr=0.05, reg=reg)
        edited = torch.zeros(2, 64, dtype=torch.bool)
        edited[[0, 1], [20, 33]] = True
        out = _board_hook(mlp, torch.tensor([0, 1]), torch.tensor([0, 0]), edited, target, setting)(x)
        read = mlp(out[:, 0]).argmax(-1)
        assert read[0, 20] == target[0, 20] and read[1, 33] == target[1, 33]
        kept[reg] = float((read == board).float().mean())
    assert kept[0.02] > kept[0.0] + 0.2  # the regulariser keeps the other squares


def test_whole_board_linear_edit_writes_the_board_along_the_probe_directions_only():
    torch.manual_seed(0)
    probe = LinearProbe(256, 3)  # 192 directions in a 256-wide stream
    with torch.no_grad():
        probe.W.normal_(0, 0.3)
    x = torch.randn(3, 1, 256)
    board = probe(x[:, 0]).argmax(-1)  # [3, 64]: what the probe reads now
    target = board.clone()  # a board that disagrees with it on 4 other squares per row
    others = torch.tensor([[20, 30, 40, 50], [21, 31, 41, 51], [22, 32, 42, 52]])
    target[torch.arange(3)[:, None], others] = (board[torch.arange(3)[:, None], others] + 1) % 3
    target[:, 10] = -1  # an unlabelled square is left out
    squares = torch.tensor([5, 6, 7])
    current = board[torch.arange(3), squares]
    target[torch.arange(3), squares] = (current + 1) % 3
    rows, pos = torch.arange(3), torch.zeros(3, dtype=torch.long)
    one = probe(_linear_hook(probe, rows, pos, squares, current, target, 1.0)(x)[:, 0]).argmax(-1)
    labelled = target >= 0
    assert (one[torch.arange(3), squares] == target[torch.arange(3), squares]).all()
    assert (one[torch.arange(3)[:, None], others] != target[torch.arange(3)[:, None], others]).all()
    span, _ = torch.linalg.qr(probe.W.detach().reshape(256, -1))  # [256, 192]
    for keep in ("board", "read"):
        setting = EditSetting("linear", (1,), whole_board=True, keep=keep, steps=200)
        edited = torch.zeros(3, 64, dtype=torch.bool)
        edited[torch.arange(3), squares] = True
        out = _board_hook(probe, rows, pos, edited, target, setting)(x)
        delta = (out - x)[:, 0]
        assert delta.norm() > 1 and (delta - delta @ span @ span.T).norm() < 1e-4 * delta.norm()
        read = probe(out[:, 0]).argmax(-1)
        assert (read[torch.arange(3), squares] == target[torch.arange(3), squares]).all()
        wanted = target if keep == "board" else board  # the other squares: the given board, or as read before
        assert (read[torch.arange(3)[:, None], others] == wanted[torch.arange(3)[:, None], others]).all()
        if keep == "board":
            assert ((read == target) | ~labelled).all()


def test_edits_act_through_hooks_and_compose(tiny, linear_probes):
    cases = make_cases(random_games(60, 9), 6, seed=0)
    setting = EditSetting("linear", (1, 2), scale=2.0)
    before, after = edited_move_probabilities(tiny, cases, linear_probes, setting, "relative")
    assert before.shape == after.shape == (6, 64) and np.allclose(after.sum(1), 1, atol=1e-5)
    assert not np.allclose(before, after)
    # the edit composes with other hooks: one on the same point runs first and sees the stream unedited, and the
    # next block's resid_pre (the same stream) sees it edited
    c = cases[0]
    board, _ = c.boards()
    at, edited_class = len(c.moves) - 1, (2 if board.colour_at(c.square) == board.next_mover else 1)
    seen = {}

    def recorder(name):
        def record(resid, hook):
            seen[name] = resid[:, at].clone()
            return resid

        return record

    hooks = [(residual_hook(1, 2), recorder("same")), ("blocks.1.hook_resid_pre", recorder("next"))]
    with tiny.hooks(fwd_hooks=hooks):
        edited_move_probabilities(tiny, cases[:1], linear_probes, EditSetting("linear", (1,), scale=2.0), "relative")
    with tiny.hooks(fwd_hooks=[("blocks.1.hook_resid_pre", recorder("plain"))]):
        tiny(torch.as_tensor(squares_to_tokens(np.array([c.moves]))))
    assert torch.allclose(seen["same"], seen["plain"], atol=1e-6) and not torch.allclose(seen["next"], seen["plain"])
    assert int(linear_probes[1](seen["next"])[0, c.square].argmax()) == edited_class
    # a null setting (scale -1 puts the activation back where it was) changes nothing
    same, unchanged = edited_move_probabilities(
        tiny, cases, linear_probes, EditSetting("linear", (1, 2), scale=-1.0), "relative"
    )
    assert np.allclose(same, unchanged, atol=1e-6)


def test_benchmark_rows_and_single_intervention(tiny, linear_probes):
    cases = make_cases(random_games(80, 4), 10, seed=0)
    settings = sweep_settings("linear", 2, scales=(1.0, 2.0)) + sweep_settings("linear", 2, (1.0,), [2], positions=3)
    rows = benchmark(tiny, cases, linear_probes, settings, "relative", data="synthetic", progress=False)
    assert [(r["layers"], r["scale"], r["positions"]) for r in rows] == [
        ("1-2", 1.0, 1),
        ("1-2", 2.0, 1),
        ("2-2", 1.0, 1),
        ("2-2", 2.0, 1),
        ("2-2", 1.0, 3),
    ]
    for r in rows:
        assert r["cases"] == 10 and r["null_error"] == rows[0]["null_error"] and r["legal_changed"] > 0
        assert 0 <= r["error"] <= 60
    json.dumps(rows)
    r = intervene(tiny, cases[0].moves, cases[0].square, linear_probes, EditSetting("linear", (1, 2)))
    assert set(r.legal_after) == set(cases[0].boards()[1].legal_moves) and r.legal_before != r.legal_after
    assert "legal after" in r.summary() and r.error >= 0
    # board-writing settings: one per start whatever the scales, each optimiser's defaults, bad names refused
    board = sweep_settings("linear", 2, (1.0, 2.0), whole_board=True, keep="read") + sweep_settings(
        "gradient", 2, (1.0, 2.0)
    )
    assert [(s.method, s.layers, s.lr, s.steps, s.keep) for s in board] == [
        ("linear", (1, 2), 0.3, 50, "read"),
        ("linear", (2,), 0.3, 50, "read"),
        ("gradient", (1, 2), 1e-3, 1000, "board"),
        ("gradient", (2,), 1e-3, 1000, "board"),
    ]
    assert "others kept as read" in board[0].describe() and "scale" not in board[0].describe()
    for bad in ({"keep": "truth"}, {"method": "erase"}):
        with pytest.raises(ValueError, match="unknown"):
            EditSetting(**bad)
    with pytest.raises(ValueError, match="whole board"):
        EditSetting("linear", keep="read")


@pytest.mark.slow
def test_intervention_commands(tmp_path, capsys, probe_cache):
    from othello.cli.entry import main
    from othello.model.checkpoints import save_model, write_run_config

    write_run_config(tmp_path / "m", preset("tiny"), None)
    save_model(tmp_path / "m", build_model(preset("tiny")))
    common = ["--model", str(tmp_path / "m"), "--probe-games", "100"]
    assert (
        main(["intervene-eval", *common, "--cases", "8", "--scales", "1,4", "--json", "--out", str(tmp_path / "i")])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 * 2
    assert {"method", "layers", "scale", "cases", "error", "null_error"} <= set(rows[0])
    assert (tmp_path / "i" / "intervention_error_linear.png").stat().st_size > 5000
    assert len(list(probe_cache.glob("probes/*/relative-linear/layer-2/probe.json"))) >= 1  # fitted once, kept
    assert (
        main(["intervene-eval", *common, "--cases", "4", "--method", "gradient", "--steps", "20", "--starts", "2"]) == 0
    )
    assert "best: gradient (board) layers 2-2" in capsys.readouterr().out
    assert (
        main(
            ["intervene-eval", *common, "--cases", "4", "--whole-board", "--keep", "read", "--scales", "1,4", "--json"]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and all(r["scale"] is None and r["keep"] == "read" and r["whole_board"] for r in rows)
    assert rows[0]["setting"]["steps"] == 50 and rows[0]["setting"]["lr"] == 0.3  # the descent's defaults
    png = tmp_path / "panel.png"
    assert main(["intervene", *common, "--game", "f5 d6 c3 d3 c4", "--flip", "d4", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    board = Board("f5 d6 c3 d3 c4")
    assert f"legal before: {' '.join(square_name(s) for s in sorted(board.legal_moves))}\n" in out
    assert "legal after:" in out and "error against the edited board" in out
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 20000
    assert main(["intervene", *common, "--game", "f5 d6 c3", "--flip", "a1"]) == 2
    assert "a1 is empty" in capsys.readouterr().err


def test_several_edits_at_once_compose(tiny, linear_probes):
    """Two squares edited in one call: the one-square reflections compose (each square's probe reads its edited
    class), the boards edit both squares, and one square edited alone equals the single-square call."""
    cases = make_cases(random_games(60, 4), 10, seed=1)
    case = next(c for c in cases if sum(1 for s in range(64) if c.boards()[0].colour_at(s)) > 4)
    board = case.boards()[0]
    other = next(s for s in range(64) if board.colour_at(s) and s != case.square and s != case.moves[-1])
    setting = EditSetting("linear", (1, 2), scale=2.0)
    both = intervene(tiny, case.moves, [case.square, other], linear_probes, setting, edit=["flip", "erase"])
    assert both.board_after.colour_at(other) == 0
    assert both.board_after.colour_at(case.square) == 3 - board.colour_at(case.square)
    assert "flip" in both.case.describe() and "erase" in both.case.describe()
    alone = intervene(tiny, case.moves, case.square, linear_probes, setting)
    one_list = intervene(tiny, case.moves, [case.square], linear_probes, setting)
    assert np.allclose(alone.probs_after, one_list.probs_after)
    assert not np.allclose(both.probs_after, alone.probs_after)
    with pytest.raises(ValueError, match="once"):
        intervene(tiny, case.moves, [case.square, case.square], linear_probes, setting)


def test_the_written_out_descent_equals_autograd():
    """The linear whole-board edit's gradient, written out, against autograd's SGD on the same loss."""
    from othello.probes.interventions.apply import _linear_descent, _optimise

    torch.manual_seed(1)
    probe = LinearProbe(64, 3)
    x = torch.randn(4, 64)
    target = torch.randint(0, 3, (4, 64))
    target[:, 7] = -1  # unlabelled squares are left out
    weights = torch.full((4, 64), 0.2)
    weights[:, 3] = 1.0
    fast = _linear_descent(probe, x.clone(), target, weights, lr=0.3, steps=50)
    slow = _optimise(probe, x.clone(), target, weights, torch.optim.SGD, lr=0.3, steps=50)
    assert (fast - x).norm() > 1 and torch.allclose(fast, slow, atol=1e-5, rtol=1e-5)


def test_intervene_fits_only_the_layers_it_edits(tmp_path, capsys):
    # with no stored probes, a one-off edit of layers 2-3 fits those two, not the whole stack
    from othello.cli.entry import main
    from othello.model.checkpoints import save_model, write_run_config

    write_run_config(tmp_path / "m", preset("tiny", n_layers=4), None)
    save_model(tmp_path / "m", build_model(preset("tiny", n_layers=4)))
    probes = tmp_path / "probes"
    args = ["--model", str(tmp_path / "m"), "--probe-games", "60", "--probes", str(probes), "--quiet"]
    assert main(["intervene", *args, "--game", "f5 d6 c3 d3 c4", "--flip", "d4", "--layers", "2-3"]) == 0
    assert sorted(p.name for p in (probes / "relative-linear").iterdir()) == ["layer-2", "layer-3"]
    assert main(["readout", *args, "--game", "f5 d6 c3", "--layer", "1"]) == 0
    assert sorted(p.name for p in (probes / "relative-linear").iterdir()) == ["layer-1", "layer-2", "layer-3"]
