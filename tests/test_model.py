import pytest
import torch

from othello.model import PRESETS, ModelConfig, build_model, hook_name, preset, residual_hook


def test_presets_and_overrides():
    assert (PRESETS["othello-gpt"].n_layers, PRESETS["othello-gpt"].d_model, PRESETS["othello-gpt"].d_mlp) == (8, 512, 2048)
    assert preset("small", n_layers=6).n_layers == 6
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ValueError, match="not divisible"):
        preset("tiny", n_heads=3)
    cfg = preset("tiny")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_hooks_and_cache():
    model = build_model(preset("tiny"))
    tokens = torch.randint(1, 61, (2, 59))
    logits, cache = model.run_with_cache(tokens)
    assert logits.shape == (2, 59, 61)
    for layer in range(2):
        for kind in ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"):
            assert cache[hook_name(layer, kind)].shape == (2, 59, 32)
    # the residual stream adds up: post = mid + mlp_out = pre + attn_out + mlp_out
    pre, post = cache[hook_name(1, "resid_pre")], cache[hook_name(1, "resid_post")]
    assert torch.allclose(post, pre + cache[hook_name(1, "attn_out")] + cache[hook_name(1, "mlp_out")], atol=1e-5)
    assert torch.equal(cache[hook_name(0, "resid_post")], cache[hook_name(1, "resid_pre")])
    assert residual_hook(0, 2) == "blocks.0.hook_resid_pre" and residual_hook(2, 2) == "blocks.1.hook_resid_post"


def test_hooks_edit_the_forward_pass():
    model = build_model(preset("tiny"))
    tokens = torch.randint(1, 61, (1, 59))
    clean = model(tokens)
    edited = model.run_with_hooks(tokens, fwd_hooks=[(hook_name(1, "resid_post"), lambda act, hook: act * 0)])
    assert not torch.allclose(clean, edited)
    assert torch.allclose(model(tokens), clean)  # the hook was removed


def test_a_resid_mid_edit_reaches_the_mlp_but_not_the_stream():
    # The README warns of this: in the bridge (TransformerLens 3.9 and 4.x alike) a hook on resid_mid changes what
    # the MLP reads, but resid_post is the unedited resid_mid + mlp_out (HookedTransformer passed the edit on too).
    torch.manual_seed(0)
    model = build_model(preset("tiny"))
    tokens = torch.randint(1, 61, (1, 10))
    shift = torch.randn(model.cfg.d_model)
    _, clean = model.run_with_cache(tokens)
    with model.hooks(fwd_hooks=[(hook_name(1, "resid_mid"), lambda act, hook: act + shift)]):
        _, edited = model.run_with_cache(tokens)
    assert torch.allclose(edited[hook_name(1, "resid_mid")], clean[hook_name(1, "resid_mid")] + shift, atol=1e-5)
    assert not torch.allclose(edited[hook_name(1, "mlp_out")], clean[hook_name(1, "mlp_out")], atol=1e-3)
    assert torch.allclose(edited[hook_name(1, "resid_post")],
                          clean[hook_name(1, "resid_mid")] + edited[hook_name(1, "mlp_out")], atol=1e-5)


def test_seeded_initialisation():
    a, b = build_model(preset("tiny", seed=1)), build_model(preset("tiny", seed=1))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c = build_model(preset("tiny", seed=2))
    assert not torch.equal(a.state_dict()["embed.weight"], c.state_dict()["embed.weight"])
