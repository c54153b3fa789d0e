import struct

import numpy as np
import pytest

from othello.data.datasets import GameFiles, write_games
from othello.data.importers import GameImportError, import_games, read_source
from othello.engine.board import Board
from othello.engine.games import random_games, replay
from othello.engine.notation import moves_to_string


def wtb_bytes(games, year=2001, count=None):
    header = struct.pack("<BBBBIHHBBBB", 20, 1, 1, 1, len(games) if count is None else count, 0, year, 8, 0, 22, 0)
    body = b""
    for i, g in enumerate(games):
        codes = [(s // 8 + 1) * 10 + s % 8 + 1 if s >= 0 else 0 for s in g]
        body += struct.pack("<HHHBB", 0, i, i + 1, 32, 32) + bytes(codes + [0] * (60 - len(codes)))
    return header + body


def test_wthor_round_trip(tmp_path):
    games = random_games(20, 1)
    (tmp_path / "x.wtb").write_bytes(wtb_bytes(games.tolist()))
    got = read_source(tmp_path / "x.wtb")
    assert np.array_equal(got.moves, games)
    assert (got.metadata["year"] == 2001).all()


def test_wthor_truncated(tmp_path):
    data = wtb_bytes(random_games(5, 1).tolist())
    (tmp_path / "t.wtb").write_bytes(data[:-30])
    with pytest.raises(GameImportError, match=r"t.wtb: truncated.*5 games.*game 4 is incomplete"):
        import_games([tmp_path / "t.wtb"])
    (tmp_path / "h.wtb").write_bytes(data[:10])
    with pytest.raises(GameImportError, match="h.wtb: truncated WTHOR header"):
        import_games([tmp_path / "h.wtb"])


def test_wthor_illegal_and_out_of_range(tmp_path):
    games = random_games(4, 2).tolist()
    games[2][7] = games[2][6]
    data = bytearray(wtb_bytes(games))
    data[16 + 68 * 3 + 8 + 5] = 99  # square code 99: row 9 is off the board
    (tmp_path / "bad.wtb").write_bytes(bytes(data))
    with pytest.raises(GameImportError, match=r"bad.wtb: game 2, ply 8 \(.*\): square already occupied.*1 more"):
        import_games([tmp_path / "bad.wtb"])
    ok = import_games([tmp_path / "bad.wtb"], skip_invalid=True)
    assert len(ok.moves) == 2 and len(ok.skipped) == 2
    assert "game 3, ply 6: byte 99 is not a square" in ok.skipped[1]


def test_text_csv_and_pgn(tmp_path):
    games = random_games(3, 4)
    lines = [moves_to_string(g) for g in games]
    (tmp_path / "g.txt").write_text("# comment\n" + lines[0] + "\n\n" + lines[1].upper().replace(" ", "") + "\n")
    (tmp_path / "g.csv").write_text("id,moves\n1," + lines[2].replace(" ", "") + "\n")
    pgn = (
        '[Event "Test"]\n[Black "Ann"]\n[White "Bob"]\n\n'
        + " ".join(f"{i // 2 + 1}. {m}" if i % 2 == 0 else m for i, m in enumerate(lines[0].split()))
        + ' 33-31\n\n[Event "Two"]\n[Black "Cy"]\n[White "Di"]\n\n1. f5 d6 2. c3 *\n'
    )
    (tmp_path / "g.pgn").write_text(pgn)
    got = import_games([tmp_path / "g.txt", tmp_path / "g.csv"])
    assert np.array_equal(got.moves, games[[0, 1, 2]])
    p = import_games([tmp_path / "g.pgn"])
    assert np.array_equal(p.moves[0], games[0]) and moves_to_string(p.moves[1]) == "f5 d6 c3"
    assert p.metadata["black_player"].tolist() == ["Ann", "Cy"]
    (tmp_path / "bad.txt").write_text(lines[0] + "\nf5 f5\n")
    with pytest.raises(GameImportError, match=r"bad.txt: game 1, ply 2 \(f5\): square already occupied"):
        import_games([tmp_path / "bad.txt"])
    (tmp_path / "junk.txt").write_text(lines[0] + "\nf5 zz\n")
    with pytest.raises(GameImportError, match=r"junk.txt: game 1 \(line 2\)"):
        import_games([tmp_path / "junk.txt"])


@pytest.mark.slow
def test_all_wthor_games_import_and_replay(wthor_dir, tmp_path):
    games = import_games([wthor_dir])
    assert len(games.moves) == 124_082 and not games.skipped
    assert {"black_player", "white_player", "tournament", "year", "black_score"} <= set(games.metadata)
    out = write_games(tmp_path / "wthor.h5", games.moves, source="wthor", metadata=games.metadata)
    with GameFiles(out) as f:
        assert len(f) == 124_082
        assert f.metadata("black_player", 0, 3).tolist() == games.metadata["black_player"][:3].tolist()
        sample = f.moves(0, 124_082)[::997]
    r = replay(sample, ("boards",))
    # the recorded score matches the replayed final board where the game was played out to the end
    for g, moves in enumerate(sample[:40]):
        board = Board([int(m) for m in moves if m >= 0])
        assert r.boards[g, r.lengths[g] - 1].tolist() == board.to_array()


def test_a_move_after_the_end_marker_is_named(tmp_path):
    games = random_games(2, 3).tolist()
    data = bytearray(wtb_bytes(games))
    data[16 + 68 + 8 + 10] = 0  # game 1 stops at ply 11, then goes on
    (tmp_path / "gap.wtb").write_bytes(bytes(data))
    with pytest.raises(GameImportError, match=r"gap.wtb: game 1, ply 12 .*follows the end-of-game marker"):
        import_games([tmp_path / "gap.wtb"])


def test_pgn_entries_without_moves_are_no_games_and_are_counted(tmp_path):
    # liveothello exports finished-without-moves entries as "1. *"; they used to import as empty games
    empty = '[Event "Cancelled"]\n[Black "X"]\n[White "Y"]\n\n1. *\n\n'
    pgn = empty * 2 + '[Event "Real"]\n[Black "Ann"]\n[White "Bob"]\n\n1. f5 d6 2. c3 *\n\n' + empty * 2
    (tmp_path / "g.pgn").write_text(pgn)
    got = import_games([tmp_path / "g.pgn"])
    assert len(got.moves) == 1 and moves_to_string(got.moves[0]) == "f5 d6 c3"
    assert got.metadata["black_player"].tolist() == ["Ann"]
    assert len(got.skipped) == 4 and all("no moves" in m for m in got.skipped)


def test_commas_between_moves_are_not_csv_columns(tmp_path):
    game = random_games(1, 6)[0]
    names = moves_to_string(game).split()
    (tmp_path / "g.txt").write_text(",".join(names) + "\n")
    assert np.array_equal(import_games([tmp_path / "g.txt"]).moves[0], game)
    # a CSV whose last column is one square (an opening's last move) keeps the game column
    (tmp_path / "o.csv").write_text("moves,opening\n" + "".join(names) + ",f5\n")
    assert np.array_equal(import_games([tmp_path / "o.csv"]).moves[0], game)
