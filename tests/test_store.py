import pytest
import torch

import othello.probes.store as store
from othello.model import build_model, load_model, preset
from othello.probes.fit import ProbeConfig

FAST = ProbeConfig(epochs=1)


def _no_fitting(*args, **kwargs):
    raise AssertionError("a stored probe should have been loaded, not fitted")


def test_probes_are_fitted_once_into_the_cache_and_then_loaded(tmp_path, monkeypatch):
    probe_cache = tmp_path / "cache"  # a cache of its own: other tests fit probes of the same tiny model
    monkeypatch.setenv("OTHELLO_GPT_CACHE", str(probe_cache))
    model = build_model(preset("tiny"))
    fitted = store.layer_probes(model, "relative", "linear", layers=[1, 2], games=80, config=FAST, progress=False)
    folder = probe_cache / "probes" / store.model_fingerprint(model) / "relative-linear"
    assert sorted(p.name for p in folder.iterdir()) == ["layer-1", "layer-2"]
    monkeypatch.setattr(store, "fit_probes_by_layer", _no_fitting)
    loaded = store.layer_probes(model, "relative", "linear", layers=[1, 2], games=80, config=FAST, progress=False)
    assert torch.equal(loaded[2].W, fitted[2].W)
    rows = store.stored_probe_rows(model, "relative", "linear", layers=[1, 2], games=80, config=FAST)
    assert [r["layer"] for r in rows] == [1, 2] and all(0 <= r["accuracy"] <= 1 for r in rows)
    # other games, other settings or other weights are another key: fitted anew
    for call in (
        lambda: store.layer_probes(model, "relative", "linear", [1], games=90, config=FAST, progress=False),
        lambda: store.layer_probes(model, "relative", "linear", [1], games=80, progress=False),
        lambda: store.layer_probes(
            build_model(preset("tiny").replace(seed=1)),
            "relative",
            "linear",
            [1],
            games=80,
            config=FAST,
            progress=False,
        ),
    ):
        with pytest.raises(AssertionError, match="should have been loaded"):
            call()


def test_an_explicit_folder_is_read_and_written_alone(tmp_path, monkeypatch):
    probe_cache = tmp_path / "cache"
    monkeypatch.setenv("OTHELLO_GPT_CACHE", str(probe_cache))
    model = build_model(preset("tiny"))
    folder = tmp_path / "explicit"
    store.layer_probes(model, "colour", "linear", layers=[0], games=80, config=FAST, cache=folder, progress=False)
    assert (folder / "colour-linear" / "layer-0" / "probe.json").exists()
    assert not list(probe_cache.glob(f"probes/{store.model_fingerprint(model)}/colour-linear"))


@pytest.mark.slow
def test_the_shipped_model_carries_its_probes(monkeypatch):
    """Every probe the commands and the demo use by default is stored beside the shipped model, under the key of
    its weights: nothing is fitted on a fresh clone."""
    model = load_model()
    monkeypatch.setattr(store, "fit_probes_by_layer", _no_fitting)
    n = model.cfg.n_layers
    for labelling, kind in (
        ("relative", "linear"),
        ("colour", "linear"),
        ("relative", "mlp"),
        ("colour", "mlp"),
        ("next_mover", "linear"),
    ):
        found = store.stored_probes(model, labelling, kind, progress=False)
        assert sorted(found) == list(range(n + 1))
        assert all(info["key"]["games"] == store.PROBE_GAMES for _, info in found.values())
    assert store.probe_folders(store.model_fingerprint(model))[0][0] == store.SHIPPED_PROBES


def test_the_shipped_model_carries_its_mid_block_probes(monkeypatch):
    """The explorer reads every layer at resid_mid too (where the shipped model's board reads best)."""
    model = load_model()
    monkeypatch.setattr(store, "fit_probes_by_layer", _no_fitting)
    for labelling in ("relative", "colour"):
        found = store.stored_probes(model, labelling, "linear", site="resid_mid", progress=False)
        assert sorted(found) == list(range(1, model.cfg.n_layers + 1))
        assert found[7][1]["hook"] == "blocks.6.hook_resid_mid"
