import numpy as np
import pytest

from othello.engine.notation import (
    CENTRE_SQUARES,
    SQUARE_KIND,
    InvalidMoveError,
    convert_square_name,
    moves_to_string,
    parse_moves,
    parse_square,
    square_name,
    squares_to_tokens,
    tokens_to_squares,
)


def test_square_names_round_trip():
    for s in range(64):
        assert parse_square(square_name(s)) == s
    assert parse_square("a1") == 0 and parse_square("h8") == 63 and parse_square("F5") == 37
    assert [square_name(s) for s in CENTRE_SQUARES] == ["d4", "e4", "d5", "e5"]


def test_square_kinds_as_players_name_them():
    kind = {
        name: SQUARE_KIND[parse_square(name)]
        for name in ("a1", "h8", "b2", "g7", "b1", "a7", "h5", "d1", "c2", "b5", "c3", "f6", "d4")
    }
    assert kind == {
        "a1": "corner",
        "h8": "corner",
        "b2": "X",
        "g7": "X",
        "b1": "C",
        "a7": "C",
        "h5": "edge",
        "d1": "edge",
        "c2": "ring",
        "b5": "ring",
        "c3": "centre",
        "f6": "centre",
        "d4": "centre",
    }
    counts = {k: SQUARE_KIND.count(k) for k in set(SQUARE_KIND)}
    assert counts == {"corner": 4, "X": 4, "C": 8, "edge": 16, "ring": 16, "centre": 16}
    # the board's symmetries keep a square's kind
    for s in range(64):
        row, col = divmod(s, 8)
        assert SQUARE_KIND[s] == SQUARE_KIND[col * 8 + row] == SQUARE_KIND[row * 8 + 7 - col]


@pytest.mark.parametrize("bad", ["i1", "a9", "a0", "", "f55", 64, -1])
def test_bad_squares(bad):
    with pytest.raises(InvalidMoveError):
        parse_square(bad)


@pytest.mark.parametrize("text", ["f5 d6 c3", "F5D6C3", "f5d6c3", "f5, d6, c3", " f5  D6\tc3 "])
def test_move_strings(text):
    assert parse_moves(text) == [37, 43, 18]


def test_move_string_errors_name_the_input():
    with pytest.raises(InvalidMoveError, match="z9"):
        parse_moves("f5 z9")
    assert moves_to_string([37, 43, 18, -1, -1]) == "f5 d6 c3"


def test_tokens_round_trip_and_padding():
    squares = np.array([[s for s in range(64) if s not in CENTRE_SQUARES]])
    tokens = squares_to_tokens(squares)
    assert tokens.tolist() == [list(range(1, 61))]
    assert tokens_to_squares(tokens).tolist() == squares.tolist()
    assert squares_to_tokens(np.array([37, -1])).tolist() == [34, 0]
    with pytest.raises(InvalidMoveError):
        squares_to_tokens(np.array([27]))


def test_other_conventions():
    # f5 is row 5, column f: Li et al. write rows as letters ("e6"), Nanda rows upper case, columns from 0
    assert convert_square_name("f5", "ours", "li") == "e6"
    assert convert_square_name("f5", "ours", "nanda") == "E5"
    for s in range(64):
        name = square_name(s)
        for conv in ("li", "nanda"):
            assert convert_square_name(convert_square_name(name, "ours", conv), conv, "ours") == name


def test_diagram_draws_a1_top_left():
    from othello.engine.notation import diagram

    text = diagram([str(s % 10) for s in range(64)]).splitlines()
    assert text[0] == "  a b c d e f g h" and text[1] == "1 0 1 2 3 4 5 6 7" and text[8].startswith("8 6 7 8 9")
    wide = diagram(["[ 12]"] * 64).splitlines()
    assert len(wide) == 9 and wide[1].startswith("1 [ 12] [ 12]")
