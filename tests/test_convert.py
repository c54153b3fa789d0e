"""The converters against independent forward passes written from each layout's own definition."""

import math

import pytest
import torch
import torch.nn.functional as F

from othello.model.checkpoints import CheckpointError, load_model
from othello.model.convert import convert_checkpoint

L, D, H, M, V, T = 2, 32, 4, 64, 61, 59


def layer_norm(x, w=None, b=None):
    x = x - x.mean(-1, keepdim=True)
    x = x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    return x if w is None else x * w + b


def causal_attention(q, k, v):  # [B, H, T, dh]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    mask = torch.triu(torch.ones(q.shape[-2], q.shape[-2], dtype=torch.bool), 1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1) @ v


def mingpt_state_dict(gen):
    r = lambda *s: torch.randn(*s, generator=gen) * 0.2  # noqa: E731
    sd = {
        "tok_emb.weight": r(V, D),
        "pos_emb": r(1, T, D),
        "ln_f.weight": 1 + r(D),
        "ln_f.bias": r(D),
        "head.weight": r(V, D),
    }
    for layer in range(L):
        p = f"blocks.{layer}"
        for n in ("ln1", "ln2"):
            sd[f"{p}.{n}.weight"], sd[f"{p}.{n}.bias"] = 1 + r(D), r(D)
        for n in ("query", "key", "value", "proj"):
            sd[f"{p}.attn.{n}.weight"], sd[f"{p}.attn.{n}.bias"] = r(D, D), r(D)
        sd[f"{p}.attn.mask"] = torch.tril(torch.ones(1, 1, T, T))
        sd[f"{p}.mlp.0.weight"], sd[f"{p}.mlp.0.bias"] = r(M, D), r(M)
        sd[f"{p}.mlp.2.weight"], sd[f"{p}.mlp.2.bias"] = r(D, M), r(D)
    return sd


def mingpt_forward(sd, idx):
    """minGPT (Li et al.): x = tok_emb + pos_emb; x += proj(attn(ln1 x)); x += mlp(ln2 x); head(ln_f x)."""
    x = sd["tok_emb.weight"][idx] + sd["pos_emb"][0, : idx.shape[1]]
    B, Tn, _ = x.shape
    lin = lambda x, n: x @ sd[n + ".weight"].T + sd[n + ".bias"]  # noqa: E731
    for layer in range(L):
        p = f"blocks.{layer}"
        h = layer_norm(x, sd[f"{p}.ln1.weight"], sd[f"{p}.ln1.bias"])
        q, k, v = (lin(h, f"{p}.attn.{n}").view(B, Tn, H, D // H).transpose(1, 2) for n in ("query", "key", "value"))
        y = causal_attention(q, k, v).transpose(1, 2).reshape(B, Tn, D)
        x = x + lin(y, f"{p}.attn.proj")
        h = layer_norm(x, sd[f"{p}.ln2.weight"], sd[f"{p}.ln2.bias"])
        x = x + lin(F.gelu(lin(h, f"{p}.mlp.0")), f"{p}.mlp.2")
    return layer_norm(x, sd["ln_f.weight"], sd["ln_f.bias"]) @ sd["head.weight"].T


def hooked_state_dict(gen, folded):
    r = lambda *s: torch.randn(*s, generator=gen) * 0.2  # noqa: E731
    sd = {"embed.W_E": r(V, D), "pos_embed.W_pos": r(T, D), "unembed.W_U": r(D, V), "unembed.b_U": r(V)}
    if not folded:
        sd["ln_final.w"], sd["ln_final.b"] = 1 + r(D), r(D)
    for layer in range(L):
        p = f"blocks.{layer}"
        if not folded:
            for n in ("ln1", "ln2"):
                sd[f"{p}.{n}.w"], sd[f"{p}.{n}.b"] = 1 + r(D), r(D)
        for n in "QKV":
            sd[f"{p}.attn.W_{n}"], sd[f"{p}.attn.b_{n}"] = r(H, D, D // H), r(H, D // H)
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = r(H, D // H, D), r(D)
        sd[f"{p}.attn.mask"] = torch.tril(torch.ones(T, T)).bool()
        sd[f"{p}.attn.IGNORE"] = torch.tensor(-1e5)
        sd[f"{p}.mlp.W_in"], sd[f"{p}.mlp.b_in"] = r(D, M), r(M)
        sd[f"{p}.mlp.W_out"], sd[f"{p}.mlp.b_out"] = r(M, D), r(D)
    return sd


def hooked_forward(sd, idx, folded):
    """HookedTransformer: per-head einsums with W_Q [h, d, e], W_O [h, e, d]; LNPre when LN is folded."""
    ln = lambda x, n: layer_norm(x) if folded else layer_norm(x, sd[n + ".w"], sd[n + ".b"])  # noqa: E731
    x = sd["embed.W_E"][idx] + sd["pos_embed.W_pos"][: idx.shape[1]]
    for layer in range(L):
        p = f"blocks.{layer}"
        h = ln(x, f"{p}.ln1")
        q, k, v = (
            torch.einsum("btd,hde->bhte", h, sd[f"{p}.attn.W_{n}"]) + sd[f"{p}.attn.b_{n}"][None, :, None]
            for n in "QKV"
        )
        z = causal_attention(q, k, v)
        x = x + torch.einsum("bhte,hed->btd", z, sd[f"{p}.attn.W_O"]) + sd[f"{p}.attn.b_O"]
        h = ln(x, f"{p}.ln2")
        x = x + F.gelu(h @ sd[f"{p}.mlp.W_in"] + sd[f"{p}.mlp.b_in"]) @ sd[f"{p}.mlp.W_out"] + sd[f"{p}.mlp.b_out"]
    return ln(x, "ln_final") @ sd["unembed.W_U"] + sd["unembed.b_U"]


@pytest.fixture
def tokens():
    return torch.randint(1, V, (3, T), generator=torch.Generator().manual_seed(1))


def test_mingpt_converter_matches_an_independent_forward(tmp_path, tokens):
    sd = mingpt_state_dict(torch.Generator().manual_seed(0))
    torch.save(sd, tmp_path / "li.pth")
    cfg = convert_checkpoint(tmp_path / "li.pth", "mingpt", tmp_path / "out", n_heads=H)
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_mlp) == (L, D, H, M)
    model = load_model(tmp_path / "out")
    with torch.no_grad():
        assert torch.allclose(model(tokens), mingpt_forward(sd, tokens), atol=1e-4)


@pytest.mark.parametrize("folded", [False, True])
def test_hooked_converter_matches_an_independent_forward(tmp_path, tokens, folded):
    sd = hooked_state_dict(torch.Generator().manual_seed(2), folded)
    torch.save(sd, tmp_path / "tl.pth")
    cfg = convert_checkpoint(tmp_path / "tl.pth", "hooked", tmp_path / "out")
    assert cfg.normalization_type == ("LNPre" if folded else "LN")
    model = load_model(tmp_path / "out")
    with torch.no_grad():
        assert torch.allclose(model(tokens), hooked_forward(sd, tokens, folded), atol=1e-4)


def test_a_crafted_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        convert_checkpoint(tmp_path / "evil.pth", "hooked", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_layout_is_named(tmp_path):
    torch.save(mingpt_state_dict(torch.Generator().manual_seed(0)), tmp_path / "li.pth")
    with pytest.raises(CheckpointError, match="not a HookedTransformer checkpoint: missing 'embed.W_E'"):
        convert_checkpoint(tmp_path / "li.pth", "hooked", tmp_path / "out")


def test_export_to_hooked_round_trips_and_loads_as_a_hooked_transformer(tmp_path):
    """Our model out as a HookedTransformer state dict + config: read back by our importer it is the same model;
    under TransformerLens 3.x (make test's .venv-tl3) HookedTransformer loads it strictly and matches our logits
    and every hook both models have."""
    import json

    import numpy as np

    from othello.cli.entry import main
    from othello.engine.games import random_games
    from othello.model import build_model, preset
    from othello.model.checkpoints import save_model, write_run_config
    from othello.model.tokens import model_inputs

    ours = build_model(preset("tiny", seed=3))
    write_run_config(tmp_path / "m", ours.othello_config, None)
    save_model(tmp_path / "m", ours)
    assert main(["convert", "--to", "hooked", str(tmp_path / "m"), "--out", str(tmp_path / "h.pth")]) == 0
    sd = torch.load(tmp_path / "h.pth", weights_only=True)
    config = json.loads((tmp_path / "h.json").read_text())
    assert sd["blocks.0.attn.W_Q"].shape == (2, 32, 16) and config["d_head"] == 16 and config["d_vocab"] == 61
    convert_checkpoint(tmp_path / "h.pth", "hooked", tmp_path / "back")
    back = load_model(tmp_path / "back").state_dict()
    assert all(torch.allclose(v, back[k]) for k, v in ours.state_dict().items())

    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError:
        pytest.skip("HookedTransformer is TransformerLens 3.x's (the .venv-tl3 run checks it)")
    hooked = HookedTransformer(HookedTransformerConfig(**config))
    hooked.load_state_dict(sd)  # strict: every key, no extra
    hooked.eval()
    tokens = model_inputs(random_games(4, 5))
    with torch.no_grad():
        theirs, their_cache = hooked.run_with_cache(tokens)
        mine, my_cache = ours.run_with_cache(tokens)
    assert torch.allclose(theirs, mine, atol=1e-4)
    shared = [k for k in my_cache.keys() if k in their_cache.keys()]
    assert len(shared) >= 10 * ours.cfg.n_layers  # embeddings, resid_pre/mid/post, q/k/v, z, pattern, mlp, ...
    differ = [k for k in shared if not torch.allclose(my_cache[k], their_cache[k], atol=1e-4)]
    # one name means two things: the bridge records the softmaxed pattern at hook_attn_scores, HookedTransformer
    # the scores before it; every other shared hook holds the same numbers
    assert differ == [f"blocks.{L}.attn.hook_attn_scores" for L in range(ours.cfg.n_layers)]
    for L in range(ours.cfg.n_layers):
        assert torch.allclose(
            my_cache[f"blocks.{L}.attn.hook_attn_scores"], their_cache[f"blocks.{L}.attn.hook_pattern"]
        )
    assert np.isfinite(theirs.numpy()).all()


def test_convert_needs_exactly_one_direction(tmp_path, capsys):
    from othello.cli.entry import main

    assert main(["convert", "x.pth", "--out", str(tmp_path / "o")]) == 2
    assert "--layout" in capsys.readouterr().err
    assert main(["convert", "--to", "hooked", "models/small8", "--out", str(tmp_path / "o.bin")]) == 2
    assert ".pth or .safetensors" in capsys.readouterr().err
