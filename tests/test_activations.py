import h5py
import numpy as np
import pytest
import torch

from othello.engine.games import random_games
from othello.model import build_model, hook_name, preset
from othello.model.tokens import model_inputs
from othello.probes.activations import collect_activations


def test_activations_match_run_with_cache_in_memory_and_on_disk(tmp_path):
    model = build_model(preset("tiny"))
    moves = random_games(10, 1)
    hooks = [hook_name(0, "resid_pre"), hook_name(1, "resid_post"), hook_name(1, "mlp_out")]
    acts = collect_activations(model, moves, hooks, batch_size=3)
    with torch.no_grad():
        _, cache = model.run_with_cache(model_inputs(moves))
    for h in hooks:
        assert acts[h].shape == (10, 59, 32)
        assert np.allclose(acts[h], cache[h].numpy(), atol=1e-5)
    path = collect_activations(model, moves, hooks, positions=[5, 20], batch_size=4, out=tmp_path / "a.h5")
    with h5py.File(path) as f:
        assert f[hooks[1]].shape == (10, 2, 32)
        assert np.allclose(f[hooks[1]][:], cache[hooks[1]][:, [5, 20]].numpy(), atol=1e-5)
        assert hooks[1] in f[hooks[1]].attrs["encoding"] and "row * 8 + col" in f["moves"].attrs["encoding"]
    with pytest.raises(ValueError, match="unknown hook points"):
        collect_activations(model, moves, ["blocks.9.hook_resid_post"])
    with pytest.raises(ValueError, match="positions"):
        collect_activations(model, moves, hooks, positions=[59])
