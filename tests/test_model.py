import pytest
import torch
from transformer_lens.model_bridge.generalized_components.normalization import NormalizationBridge

from othello.model import PRESETS, ModelConfig, build_model, hook_name, preset, residual_hook


def test_presets_and_overrides():
    assert (PRESETS["othello-gpt"].n_layers, PRESETS["othello-gpt"].d_model, PRESETS["othello-gpt"].d_mlp) == (
        8,
        512,
        2048,
    )
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
    assert torch.allclose(
        edited[hook_name(1, "resid_post")],
        clean[hook_name(1, "resid_mid")] + edited[hook_name(1, "mlp_out")],
        atol=1e-5,
    )


def test_seeded_initialisation():
    a, b = build_model(preset("tiny", seed=1)), build_model(preset("tiny", seed=1))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c = build_model(preset("tiny", seed=2))
    assert not torch.equal(a.state_dict()["embed.weight"], c.state_dict()["embed.weight"])


def _op_by_op(model):
    """The same model with the bridge's default LayerNorm path (op by op, hooks in the autograd graph)."""
    norms = [m for m in model.modules() if isinstance(m, NormalizationBridge)]
    for m in norms:
        m.use_native_layernorm_autograd = False
    return len(norms)


def test_layer_norm_runs_fused_with_the_same_values_gradients_and_hooks():
    torch.manual_seed(0)
    fused, plain = build_model(preset("tiny")), build_model(preset("tiny"))
    assert sum(getattr(m, "use_native_layernorm_autograd", False) for m in fused.modules()) == 2 * 2 + 1
    assert _op_by_op(plain) == 2 * 2 + 1  # ln1, ln2 per block and ln_final
    for p in fused.parameters():  # LayerNorm weights away from 1 and 0, so that a wrong formula shows
        p.data.add_(0.1 * torch.randn_like(p))
    plain.load_state_dict(fused.state_dict())
    tokens = torch.randint(1, 61, (3, 59))
    fused.train(), plain.train()
    a, b = fused(tokens), plain(tokens)
    assert torch.allclose(a, b, atol=1e-5)
    a.square().mean().backward(), b.square().mean().backward()
    for (name, p), q in zip(fused.named_parameters(), plain.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-4), name
    # the normalisation hooks are still cached and still edit the forward pass
    _, cache = fused.run_with_cache(tokens)
    _, ref = plain.run_with_cache(tokens)
    for name in ("blocks.0.ln1.hook_scale", "blocks.1.ln2.hook_normalized", "ln_final.hook_normalized"):
        assert torch.allclose(cache[name], ref[name], atol=1e-5), name
    edit = [("blocks.1.ln1.hook_normalized", lambda act, hook: act * 0)]
    with pytest.warns(UserWarning):
        edited = fused.run_with_hooks(tokens, fwd_hooks=edit)
    assert torch.allclose(edited, plain.run_with_hooks(tokens, fwd_hooks=edit), atol=1e-5)
    assert not torch.allclose(edited, a, atol=1e-3)


def test_move_strings_in_tokens_out():
    import pytest

    from othello.errors import OthelloError
    from othello.model.tokens import check_prefix, move_probabilities, pad_prefixes, to_tokens

    # tokens skip the four centre squares: f5 (37) is token 34, d6 (43) token 40, c3 (18) token 19
    assert to_tokens("f5 d6 c3").tolist() == [[34, 40, 19]] and to_tokens([37]).shape == (1, 1)
    moves, last = pad_prefixes([[37, 43], [37]])
    assert moves.tolist()[1][:2] == [37, -1] and last.tolist() == [1, 0]
    for bad in ([], list(range(60))):
        with pytest.raises(OthelloError, match="1..59 moves"):
            check_prefix(bad)
    probs = move_probabilities(build_model(preset("tiny")), "f5 d6 c3")
    assert probs.shape == (64,) and abs(probs.sum() - 1) < 1e-5 and probs[27] == 0


def test_next_move_loss_skips_padding_unlike_the_language_model_loss():
    import numpy as np
    import torch.nn.functional as F

    from othello.engine.games import pad_games, random_games
    from othello.model.tokens import model_inputs, position_labels
    from othello.train import next_move_loss

    model = build_model(preset("tiny", seed=1))
    games = random_games(3, 8)
    short = pad_games([list(games[0][:10]), list(games[1][:25]), list(games[2][:59])])  # padded after the end
    tokens = model_inputs(short)
    with torch.no_grad():
        logits = model(tokens)
    # by hand: position t predicts move t + 2 (the input token at t + 1) wherever that move exists
    target = tokens[:, 1:]
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, 61), target.reshape(-1), reduction="none").view_as(target)
    mask = target > 0
    expected = float((nll * mask).sum() / mask.sum())
    assert next_move_loss(model, short) == pytest.approx(expected, rel=1e-5)
    with torch.no_grad():
        lm_loss = float(model(tokens, return_type="loss"))
    assert abs(lm_loss - expected) > 1e-3  # TransformerLens's loss also scores the padding
    assert next_move_loss(model, "f5 d6 c3") == pytest.approx(
        next_move_loss(model, pad_games([[37, 43, 18]])), rel=1e-6
    )
    assert position_labels("f5 d6 c3") == ["f5", "d6", "c3"] and position_labels(np.array([37])) == ["f5"]


@pytest.mark.slow
def test_without_the_repository_the_shipped_model_is_asked_for_clearly(tmp_path):
    # what a pip-installed package without models/small8 sees: a message saying where to get it, and the variable
    import subprocess
    import sys

    code = "from othello.model.checkpoints import load_model; load_model()"
    env = {"OTHELLO_GPT_MODEL": str(tmp_path / "nowhere"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "OTHELLO_GPT_MODEL" in out.stderr and "--model" in out.stderr
    shipped = subprocess.run(
        [sys.executable, "-c", "from othello.model.checkpoints import SHIPPED_MODEL; print(SHIPPED_MODEL)"],
        capture_output=True,
        text=True,
        env={**env, "OTHELLO_GPT_MODEL": "models/small8"},
    )
    assert shipped.stdout.strip() == "models/small8"
