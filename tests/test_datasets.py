import os

import h5py
import numpy as np
import pytest

from othello.data.datasets import (
    DatasetError,
    GameFiles,
    generate,
    load_moves,
    split_mask,
    split_of,
    summary,
    write_games,
)
from othello.engine.games import random_games
from othello.files import OutputPathError


def test_generate_round_trip_and_attrs(tmp_path):
    out = generate(tmp_path / "a.h5", 3000, seed=5, progress=False)
    with GameFiles(out) as games:
        assert len(games) == 3000
        assert np.array_equal(games.moves(), random_games(3000, 5))
        attrs = games.attrs[0]
    assert attrs["source"] == "synthetic" and attrs["seed"] == 5 and attrs["count"] == 3000
    assert attrs["format_version"] == 1 and attrs["first_game"] == 0 and "generator" in attrs
    with h5py.File(out) as f:
        assert f["moves"].dtype == np.int8 and f["moves"].compression == "gzip" and f["moves"].chunks
    assert not [p for p in os.listdir(tmp_path) if p != "a.h5"]  # no temporary file left


def test_generate_is_the_same_whatever_the_workers(tmp_path):
    a = generate(tmp_path / "a.h5", 2000, seed=9, workers=1, progress=False, batch=300)
    b = generate(tmp_path / "b.h5", 2000, seed=9, workers=2, progress=False)
    assert np.array_equal(load_moves(a), load_moves(b))


def test_append_continues_the_stream(tmp_path):
    path = generate(tmp_path / "a.h5", 1000, seed=2, progress=False)
    generate(path, 500, seed=2, append=True, progress=False)
    assert np.array_equal(load_moves(path), random_games(1500, 2))
    with pytest.raises(DatasetError, match="cannot append seed 3"):
        generate(path, 10, seed=3, append=True, progress=False)


def test_shards_are_disjoint_and_read_as_one(tmp_path):
    for i in range(3):
        generate(tmp_path / f"shard-{i}.h5", 1000, seed=4, shard=(i, 3), progress=False)
    with GameFiles(str(tmp_path / "shard-*.h5")) as games:
        assert len(games) == 1000
        assert np.array_equal(games.moves(), random_games(1000, 4))
        batches = list(games.iter_batches(128))
        assert np.array_equal(np.concatenate(batches), games.moves())
    generate(tmp_path / "again.h5", 1000, seed=4, shard=(1, 3), progress=False)
    with pytest.raises(DatasetError, match="same games of seed 4"):
        GameFiles([tmp_path / "shard-1.h5", tmp_path / "again.h5"])


def test_splits_are_deterministic_disjoint_and_stable():
    moves = random_games(20_000, 1)
    s = split_of(moves)
    assert np.array_equal(s, split_of(moves))
    assert np.array_equal(split_of(moves[::-1]), s[::-1])  # depends on the game, not its position
    assert np.array_equal(split_of(moves[:5000]), s[:5000])  # growing the set moves no game
    fractions = np.bincount(s, minlength=3) / len(s)
    assert abs(fractions[0] - 0.9) < 0.01 and abs(fractions[1] - 0.05) < 0.01
    masks = [split_mask(moves, n) for n in ("train", "val", "test")]
    assert (sum(m.astype(int) for m in masks) == 1).all()


def test_write_games_validates(tmp_path):
    moves = random_games(10, 1)
    moves[4, 20] = moves[4, 19]
    with pytest.raises(DatasetError, match="game 4, ply 21"):
        write_games(tmp_path / "bad.h5", moves, source="test")
    assert not list(tmp_path.iterdir())


def test_corrupt_and_foreign_files(tmp_path):
    path = generate(tmp_path / "a.h5", 100, seed=1, progress=False)
    data = path.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(DatasetError, match="trunc.h5"):
        GameFiles(tmp_path / "trunc.h5").moves()
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DatasetError, match="junk.h5: not a readable HDF5 file"):
        GameFiles(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(DatasetError, match="no 'moves' dataset"):
        GameFiles(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError):
        GameFiles(tmp_path / "missing-*.h5")


def test_unwritable_output(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(OutputPathError, match="not writable"):
            generate(locked / "a.h5", 10, seed=1, progress=False)
    finally:
        locked.chmod(0o700)


def test_output_path_that_cannot_be_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="cannot create its folder"):
        generate(tmp_path / "file" / "a.h5", 10, seed=1, progress=False)
    with pytest.raises(OutputPathError, match="is a folder"):
        generate(tmp_path, 10, seed=1, progress=False)


def test_interrupted_generation_leaves_no_file(tmp_path, monkeypatch):
    import othello.data.datasets as ds

    calls = {"n": 0}

    def failing(count, seed, first_index=0):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return random_games(count, seed, first_index)

    monkeypatch.setattr(ds, "random_games", failing)
    with pytest.raises(KeyboardInterrupt):
        ds.generate(tmp_path / "a.h5", 1000, seed=1, batch=300, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_summary_counts(tmp_path):
    path = generate(tmp_path / "a.h5", 2000, seed=1, progress=False)
    s = summary(path)
    assert s["games"] == 2000 and sum(s["length_histogram"].values()) == 2000
    assert 59.5 < s["mean_length"] <= 60 and 0.25 < s["with_pass_fraction"] < 0.45


def test_stored_labels_match_replay(tmp_path):
    from othello.data.datasets import store_labels
    from othello.engine.games import replay

    path = generate(tmp_path / "a.h5", 300, seed=6, progress=False)
    store_labels(path, ("boards", "next_mover", "legal", "passed"), batch=128, progress=False)
    r = replay(random_games(300, 6))
    with h5py.File(path) as f:
        assert np.array_equal(f["boards"][:], r.boards) and np.array_equal(f["legal"][:], r.legal)
        assert np.array_equal(f["next_mover"][:], r.next_mover) and np.array_equal(f["passed"][:], r.passed)
        assert f.attrs["labels"] == "boards,next_mover,legal,passed"
    assert np.array_equal(load_moves(path), random_games(300, 6))
    with pytest.raises(ValueError, match="unknown labels"):
        store_labels(path, ("colour",), progress=False)


def test_every_dataset_says_its_encoding(tmp_path):
    # a reader without this package learns from the file alone what the numbers mean
    import h5py

    from othello.data.datasets import ENCODINGS, generate, store_labels, write_games
    from othello.engine.games import LABELS, random_games

    generate(tmp_path / "g.h5", 20, seed=3, progress=False)
    store_labels(tmp_path / "g.h5", LABELS, progress=False)
    meta = {"black_player": np.array(["A"] * 5, dtype=object), "year": np.full(5, 1999, np.int16)}
    write_games(tmp_path / "w.h5", random_games(5, 3), source="test", metadata=meta)
    for name, fields in (("g.h5", ("moves",) + LABELS), ("w.h5", ("moves", "black_player", "year"))):
        with h5py.File(tmp_path / name) as f:
            for field in fields:
                assert f[field].attrs["encoding"] == ENCODINGS[field], (name, field)
    assert "row * 8 + col" in ENCODINGS["moves"] and "-1 after" in ENCODINGS["moves"]
    assert "0 empty, 1 black, 2 white" in ENCODINGS["boards"]
