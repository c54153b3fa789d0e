"""Sparse autoencoders: a planted dictionary is recovered, the board metrics on dictionaries whose answers are known,
exact resume, the run end to end on a tiny model, the commands, and the sae-lens round trip."""

import json

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from othello.cli.entry import main
from othello.engine.games import random_games
from othello.model import build_model, preset, save_model
from othello.model.checkpoints import write_run_config
from othello.probes.activations import collect_activations
from othello.sae.autoencoder import SparseAutoencoder, load_sae, save_sae
from othello.sae.config import SAEConfig, SAETrainConfig
from othello.sae.evaluate import PROPERTY_GROUPS, board_properties, dictionary_metrics
from othello.sae.runs import EVAL_FIELDS, evaluate_run, feature_page, feature_rows
from othello.sae.train import train_sae


def planted_file(path, atoms, games=300, per_token=3, seed=0):
    """An activation file whose rows are sparse positive combinations of the unit rows of ``atoms``."""
    rng = np.random.default_rng(seed)
    n, d = atoms.shape
    rows = np.zeros((games * 59, d), np.float32)
    for i in range(len(rows)):
        chosen = rng.choice(n, per_token, replace=False)
        rows[i] = rng.uniform(0.5, 2.0, per_token) @ atoms[chosen]
    with h5py.File(path, "w") as f:
        f["planted"] = rows.reshape(games, 59, d)
        f["moves"] = np.zeros((games, 60), np.int8)
        f.attrs["positions"] = np.arange(59)
    return path


@pytest.mark.slow
def test_a_planted_dictionary_is_recovered(tmp_path):
    rng = np.random.default_rng(1)
    atoms = rng.normal(size=(48, 32)).astype(np.float32)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    data = planted_file(tmp_path / "planted.h5", atoms)
    cfg = SAETrainConfig(
        hook="planted", latents=96, k=3, tokens=300_000, batch_size=512, chunk_games=100, lr=3e-3, data=str(data)
    )
    sae, _ = train_sae(None, cfg, tmp_path / "run", progress=False)
    decoder = sae.W_dec.detach().numpy()
    decoder /= np.linalg.norm(decoder, axis=1, keepdims=True)
    best = (atoms @ decoder.T).max(1)  # each atom's closest decoder direction
    assert (best > 0.9).mean() >= 0.8, np.sort(best)[:10]


@pytest.mark.slow
def test_coverage_and_reconstruction_of_known_dictionaries():
    props, valid = board_properties(random_games(60, 3))
    P = props[valid].astype(np.float32)
    fit = np.arange(len(P)) < len(P) // 2
    # a perfect dictionary: one latent per property, on exactly when it holds. On independent properties it scores
    # 1 on both; on real boards coverage is 1 and reconstruction a little under it: a latent also stands for any
    # property that holds in >= 95 % of its firings (a taken X-square and its empty corner, say), and those extra
    # claims are false positives where they fail
    rng = np.random.default_rng(4)
    independent = (rng.random((4000, 320)) < 0.3).astype(np.float32)
    halves = np.arange(4000) < 2000
    perfect = dictionary_metrics(lambda rows: rows, independent[:, :192], independent, halves)
    assert perfect["coverage"] == pytest.approx(1.0) and perfect["reconstruction_f1"] == pytest.approx(1.0)
    assert perfect["coverage_mine_theirs"] == pytest.approx(1.0)
    assert perfect["reconstruction_f1_mine_theirs"] == pytest.approx(1.0)
    twice = np.concatenate([np.repeat(P, 10, 0), P])  # every property that holds fires often enough to be assigned
    board = dictionary_metrics(lambda rows: rows, twice[:, :192], twice, np.arange(len(twice)) < 10 * len(P))
    assert board["coverage"] == pytest.approx(1.0) and 0.99 < board["reconstruction_f1"] <= 1.0
    # one latent equal to a property indicator, one random: F1 1 for the first, low for the second
    rng = np.random.default_rng(0)
    rows = np.stack([P[:, 64 + 19], rng.random(len(P)) * (rng.random(len(P)) < 0.2)], 1).astype(np.float32)
    found = dictionary_metrics(lambda r: r, rows, P, fit)
    assert found["f1"][0, 64 + 19] == pytest.approx(1.0)
    assert found["f1"][1].max() < 0.6
    # a latent on at random still scores on the common properties (F1 = 2pr / (p + r)): as a random model does
    assert found["coverage"] < 0.45 and found["reconstruction_f1"] < 0.1
    assert set(PROPERTY_GROUPS) == {"board", "mine_theirs", "legal", "flipped"}
    # the pieces only: a dictionary of the empty squares alone covers none of them and reconstructs nothing
    empties = dictionary_metrics(lambda r: r[:, :64], P, P, fit)
    assert empties["coverage"] > 0.3 and empties["coverage_mine_theirs"] < 0.6
    assert empties["reconstruction_f1"] > 0.3 and empties["reconstruction_f1_mine_theirs"] == 0.0


def test_resume_is_bit_exact(tmp_path):
    model = build_model(preset("tiny"))
    cfg = SAETrainConfig(
        hook="blocks.1.hook_resid_mid",
        latents=64,
        k=4,
        tokens=8 * 256,
        batch_size=256,
        chunk_games=6,
        checkpoint_every=1,
    )
    whole, _ = train_sae(model, cfg, tmp_path / "a", progress=False)
    train_sae(model, cfg, tmp_path / "b", stop_at=3, progress=False)
    with pytest.raises(Exception, match="--resume"):
        train_sae(model, cfg, tmp_path / "b", progress=False)
    resumed, state = train_sae(model, cfg, tmp_path / "b", resume=True, progress=False)
    assert state["step"] == 8
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(whole, name), getattr(resumed, name)), name
    a, b = load_file(str(tmp_path / "a" / "state.safetensors")), load_file(str(tmp_path / "b" / "state.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = SAETrainConfig(**{**cfg.__dict__, "latents": 32})
    with pytest.raises(Exception, match="other settings"):
        train_sae(model, other, tmp_path / "b", resume=True, progress=False)


def test_save_and_load_keep_the_encodings(tmp_path):
    for arch in ("topk", "relu"):
        sae = SparseAutoencoder(SAEConfig(16, 40, arch, 5), seed=2)
        with torch.no_grad():
            sae.input_scale.fill_(3.0)
            sae.b_dec.normal_()
            sae.b_enc.normal_()
        x = torch.randn(30, 16)
        save_sae(sae, tmp_path / arch, {"hook": "h"})
        loaded, info = load_sae(tmp_path / arch)
        assert info["hook"] == "h" and json.loads((tmp_path / arch / "cfg.json").read_text())["d_sae"] == 40
        torch.testing.assert_close(loaded.encode(x), sae.encode(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(loaded(x), sae(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(Exception, match="no SAE here"):
        load_sae(tmp_path)


def test_sae_lens_reads_our_files_and_encodes_the_same(tmp_path):
    sae_lens = pytest.importorskip("sae_lens", reason="sae-lens installs beside TransformerLens 3.9 (.venv-tl3)")
    for arch in ("topk", "relu"):
        ours = SparseAutoencoder(SAEConfig(16, 40, arch, 5), seed=3)
        with torch.no_grad():
            ours.input_scale.fill_(0.5)
            ours.b_dec.normal_()
            ours.b_enc.normal_()
        save_sae(ours, tmp_path / arch, {"hook": "blocks.1.hook_resid_mid"})
        theirs = sae_lens.SAE.load_from_disk(str(tmp_path / arch))
        x = torch.randn(50, 16)
        with torch.no_grad():
            torch.testing.assert_close(theirs.encode(x), ours.encode(x), atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(theirs.decode(theirs.encode(x)), ours(x), atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    model = build_model(preset("tiny"))
    folder = tmp_path_factory.mktemp("sae")
    cfg = SAETrainConfig(hook="blocks.1.hook_resid_mid", latents=64, k=4, tokens=6 * 256, batch_size=256, chunk_games=6)
    train_sae(model, cfg, folder, progress=False)
    return model, folder


@pytest.mark.slow
def test_evaluate_run_gives_the_table_and_its_baselines(tiny_run):
    model, folder = tiny_run
    result = evaluate_run(model, folder, games=12, baselines=True, progress=False, probe_games=60)
    for key in EVAL_FIELDS:
        assert key in result and key in result["baselines"]["random_model"]
    for key in ("coverage", "coverage_legal", "reconstruction_f1"):
        assert 0 <= result["baselines"]["mlp_neurons"][key] <= 1
    assert result["l0"] <= 4 + 1e-6 and 0 <= result["fvu"] and result["tokens"] > 0
    assert 0 <= result["baselines"]["probe"]["accuracy"] <= 1 and result["baselines"]["probe"]["site"] == "resid_mid"
    assert (folder / "random_model" / "cfg.json").exists() and (folder / "eval.json").exists()
    rows = feature_rows(folder, top=5)
    assert len(rows) == 5 and rows[0]["f1"] >= rows[-1]["f1"] and " " in rows[0]["property"]
    sae, _ = load_sae(folder)
    page = feature_page(model, sae, "blocks.1.hook_resid_mid", rows[0]["latent"], folder, games=8)
    assert len(page["f1"]["mine"]) == 64 and len(page["decoder_cosine"]["mine_dir"]) == 64
    prefixes = [e["moves"] for e in page["examples"]]
    assert len(prefixes) == len(set(prefixes))  # an opening shared by many games is one example
    # sixty examples reach the openings that all eight games share: each is shown once
    opening = feature_page(model, sae, "blocks.1.hook_resid_mid", rows[0]["latent"], folder, games=8, top=60)
    assert len({e["moves"] for e in opening["examples"]}) == len(opening["examples"])
    from othello.views.sae import plot_feature

    def drawn(fig):
        return sum(ax.axison for ax in fig.axes if ax.get_label() != "<colorbar>")

    shown = min(3, len(page["examples"]))
    assert drawn(plot_feature(page)) == 5 + 2 + shown  # F1 maps, the two cosine maps, the top boards
    bare = {**page, "f1": None, "decoder_cosine": None}  # an SAE not evaluated, at a hook no probe reads
    assert drawn(plot_feature(bare)) == shown
    with pytest.raises(Exception, match="no latent"):
        feature_page(model, sae, "blocks.1.hook_resid_mid", 9999, folder, games=8)


def test_the_random_model_baseline_reads_the_untrained_models_own_activations(tmp_path):
    # an SAE trained from the trained model's activation file: its baseline must not train on that file
    model = build_model(preset("tiny"))
    hook = "blocks.1.hook_resid_mid"
    data = collect_activations(model, random_games(12, 5), [hook], out=tmp_path / "acts.h5")
    cfg = SAETrainConfig(hook=hook, latents=32, k=4, tokens=4 * 128, batch_size=128, chunk_games=6, data=str(data))
    train_sae(None, cfg, tmp_path / "run", progress=False)
    evaluate_run(model, tmp_path / "run", games=6, baselines=True, progress=False, probe_games=30)
    baseline = json.loads((tmp_path / "run" / "random_model" / "sae.json").read_text())
    assert baseline["model"] == "untrained" and baseline["train"]["data"] is None


@pytest.mark.slow
def test_sae_commands(tmp_path, capsys):
    folder = tmp_path / "m"
    write_run_config(folder, preset("tiny"), None)
    save_model(folder, build_model(preset("tiny")))
    base = ["--model", str(folder)]
    run = str(tmp_path / "run")
    train = ["sae", "train", "--hook", "blocks.0.hook_resid_post", "--latents", "32", "--k", "4", "--tokens", "1k"]
    train += ["--batch-size", "128", "--chunk-games", "4", "--out", run, "--json", "--quiet"] + base
    assert main(train + ["--stop-at", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 3
    assert main(train) == 2 and "--resume" in capsys.readouterr().err
    assert main(train + ["--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 7
    assert main(["sae", "eval", run, "--games", "8", "--quiet"] + base) == 0
    assert "coverage (board)" in capsys.readouterr().out
    from othello.views.tables import sae_table

    header, rows = sae_table(json.loads((tmp_path / "run" / "eval.json").read_text()))
    assert header[:2] == ["metric", "this SAE"] and rows[0][0] == "coverage (board)" and rows[0][1]
    assert main(["sae", "features", run, "--top", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    # weights changed after the evaluation (retrained, damaged, replaced): its F1s belong to other weights
    weights = tmp_path / "run" / "sae_weights.safetensors"
    kept = weights.read_bytes()
    weights.write_bytes(kept[:-4] + bytes(4))
    assert main(["sae", "features", run, "--top", "3"]) == 2
    assert "weights changed since sae eval" in capsys.readouterr().err
    weights.write_bytes(kept)
    assert main(["sae", "features", run, "--top", "3", "--json"]) == 0
    capsys.readouterr()
    assert main(["sae", "eval", str(tmp_path), "--quiet"] + base) == 2
    assert "no SAE here" in capsys.readouterr().err
    assert main(["sae", "features", str(tmp_path)]) == 2
    assert (
        main(["sae", "train", "--hook", "blocks.9.nothing", "--tokens", "1k", "--out", str(tmp_path / "x")] + base) == 2
    )
    assert "unknown hook" in capsys.readouterr().err


@pytest.mark.slow
def test_a_stopped_run_leaves_an_sae_that_eval_reads_marked_partial(tmp_path, capsys):
    """--stop-at (as a time bound or a kill after a checkpoint would) leaves the dictionary as it stood at its last
    checkpoint: sae eval scores it and says it is partial, with the tokens it had seen."""
    folder = tmp_path / "m"
    write_run_config(folder, preset("tiny"), None)
    save_model(folder, build_model(preset("tiny")))
    run = tmp_path / "run"
    train = ["sae", "train", "--hook", "blocks.0.hook_resid_post", "--latents", "32", "--k", "4", "--tokens", "1k"]
    train += ["--batch-size", "128", "--chunk-games", "4", "--checkpoint-every", "2", "--out", str(run), "--quiet"]
    assert main([*train, "--model", str(folder), "--stop-at", "4"]) == 0
    assert "stopped at step 4" in capsys.readouterr().out
    info = json.loads((run / "sae.json").read_text())
    assert info["partial"] is True and info["step"] == 4 and info["tokens"] == 4 * 128
    assert main(["sae", "eval", str(run), "--games", "8", "--model", str(folder), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["partial"] is True and result["trained_tokens"] == 512
    assert main(["sae", "eval", str(run), "--games", "8", "--model", str(folder), "--quiet"]) == 0
    assert "partial: the run stopped after 512 training tokens" in capsys.readouterr().out
    assert main([*train, "--model", str(folder), "--resume"]) == 0
    assert json.loads((run / "sae.json").read_text())["partial"] is False


def test_a_latents_rule_is_the_tree_the_neurons_get():
    """A latent that fires exactly where e4 is mine and d3 is empty gets that rule, with held-out R^2 1."""
    import torch

    from othello.engine.games import random_games
    from othello.probes.trees import FEATURES, board_features
    from othello.sae.runs import latent_rule

    moves = random_games(60, 5)
    features, valid = board_features(moves)
    rows = features[valid]
    acts = torch.from_numpy(
        (rows[:, FEATURES.index("e4 mine")] & rows[:, FEATURES.index("d3 empty")]).astype(np.float32) * 3.0
    )
    game_of = np.nonzero(valid)[0]
    rule = latent_rule(moves, acts, game_of)
    assert set(rule["text"].split(" and ")) == {"e4 mine", "d3 empty"} and rule["r2"] == pytest.approx(1.0)
