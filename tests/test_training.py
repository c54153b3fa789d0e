import json

import numpy as np
import pytest
import torch

from othello.data.streams import SyntheticStream
from othello.engine.games import random_games, replay
from othello.model import build_model, preset
from othello.model.checkpoints import CheckpointError, load_model, save_model, write_run_config
from othello.model.tokens import legal_token_mask, model_inputs, move_logits
from othello.train import TrainConfig, evaluate, legal_move_scores, train
from othello.train.loop import loss_on, lr_at, position_weights, soft_targets

TINY = dict(
    preset="tiny",
    steps=24,
    batch_size=16,
    eval_every=8,
    checkpoint_every=8,
    eval_games=64,
    log_every=4,
    warmup_steps=4,
    lr=3e-3,
)


def test_legal_move_scores_by_hand():
    legal = torch.zeros(2, 61, dtype=torch.bool)
    legal[0, [3, 5]] = True
    legal[1, [7]] = True
    logits = torch.full((2, 61), -5.0)
    logits[0, 3], logits[0, 9] = 2.0, 1.0  # top-1 legal; top-2 = {3, 9}: one false positive + one false negative
    logits[1, 0], logits[1, 8] = 9.0, 3.0  # padding is ignored; top-1 = 8 is illegal
    s = legal_move_scores(logits, legal, torch.tensor([True, True]))
    assert s["top1_legal"] == pytest.approx(0.5)
    assert s["legal_set_error"] == pytest.approx((2 + 2) / 2)


def test_soft_targets_are_uniform_over_legal_moves():
    moves = random_games(4, 1)
    target, mask = soft_targets(moves)
    legal = legal_token_mask(replay(moves[:, :59], ("legal",)).legal)
    assert torch.allclose(target[mask].sum(-1), torch.ones(int(mask.sum())))
    assert ((target > 0).numpy() == (legal & mask.numpy()[..., None])).all()


def test_pass_weight_weights_the_positions_after_an_odd_number_of_passes():
    games = random_games(400, 3)
    off = replay(games[:, :59], ("passed",)).off_parity()
    games = games[off.any(1)][:6]
    off = off[off.any(1)][:6]
    assert off.any() and not off.all()
    w = position_weights(games, 4.0).numpy()
    assert (w[off] == 4.0).all() and (w[~off] == 1.0).all()

    torch.manual_seed(0)
    model = build_model(preset("tiny"))
    target, mask = soft_targets(games)
    with torch.no_grad():
        nll = -(target * torch.log_softmax(model(model_inputs(games)), -1)).sum(-1)
        plain = loss_on(model, games, True, torch.device("cpu"))
        weighted = loss_on(model, games, True, torch.device("cpu"), pass_weight=4.0)
    m, wt = mask.float(), mask.float() * torch.from_numpy(w)
    assert plain.item() == pytest.approx(((nll * m).sum() / m.sum()).item(), rel=1e-5)
    assert weighted.item() == pytest.approx(((nll * wt).sum() / wt.sum()).item(), rel=1e-5)
    assert weighted.item() != pytest.approx(plain.item(), rel=1e-4)


def test_synthetic_stream_depends_on_step_only_and_skips_validation_games():
    s = SyntheticStream(seed=1, batch_size=32)
    assert np.array_equal(s.batch(5), SyntheticStream(seed=1, batch_size=32).batch(5))
    seen = {g.tobytes() for step in range(20) for g in s.batch(step)}
    assert not seen & {g.tobytes() for g in s.eval_games(500)}
    ranks = [SyntheticStream(1, 32, rank=r, world=2).batch(3) for r in (0, 1)]
    assert not {g.tobytes() for g in ranks[0]} & {g.tobytes() for g in ranks[1]}


def test_schedule():
    cfg = TrainConfig(steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4) and lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(100, cfg) == pytest.approx(1e-4)


def test_plan_steps_fits_steps_evaluations_and_a_final_evaluation_in_the_time():
    from othello.train.schedule import plan_steps

    # 100 s, 0.1 s a step, a 1 s evaluation every 100 steps: (100 - 1) * 0.9 / (0.1 + 0.01) = 810 steps
    assert plan_steps(100, 0.1, 1.0, 100) == 810
    assert plan_steps(100, 0.1, 1.0, 100, margin=1.0) == 900
    assert plan_steps(0.5, 1.0, 1.0, 10) == 1  # no time at all still trains a step


@pytest.mark.slow
def test_a_time_bounded_run_plans_its_schedule_and_logs_its_last_evaluation(tmp_path):
    # a few seconds: the schedule shrinks to what fits, so the cosine ends (not stuck in warm-up) where the run does
    cfg = TrainConfig(**{**TINY, "steps": 1_000_000, "warmup_steps": 200, "eval_every": 1000}, minutes=0.05)
    result = train(cfg, tmp_path / "run", minutes=0.05, progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert 1 <= saved["steps"] < 1_000_000 and saved["minutes"] == 0.05
    assert saved["warmup_steps"] == min(200, saved["steps"] // 10)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    # the last evaluation (the only one here: eval_every is past the end) is in the log, at the step reached
    assert rows[-1]["step"] == result.step and rows[-1]["val_top1_legal"] == result.metrics["top1_legal"]
    # resuming follows the planned schedule, whatever the given config's bound on steps, and logs nothing twice
    again = train(cfg, tmp_path / "run", resume=True, progress=False)
    assert again.step == saved["steps"]
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows})
    assert rows[-1]["step"] == saved["steps"] and "val_top1_legal" in rows[-1]


@pytest.mark.slow
def test_a_run_stopped_by_its_time_bound_logs_the_evaluation_where_it_stopped(tmp_path):
    # an unplanned schedule far longer than the call: it stops between evaluations, which used to go unlogged
    cfg = TrainConfig(**{**TINY, "steps": 1_000_000, "eval_every": 100_000, "log_every": 1})
    result = train(cfg, tmp_path / "run", minutes=0.02, progress=False)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert 0 < result.step < 100_000
    assert rows[-1]["step"] == result.step and rows[-1]["val_top1_legal"] == result.metrics["top1_legal"]
    # logged every step, so the stopping step had a row: the evaluation joined it (one row per step)
    assert [r["step"] for r in rows] == list(range(1, result.step + 1)) and "loss" in rows[-1]


@pytest.mark.slow
def test_training_learns_and_resume_is_exact(tmp_path):
    cfg = TrainConfig(**TINY, soft_targets=True)
    full = train(cfg, tmp_path / "full", progress=False).metrics
    train(cfg, tmp_path / "split", progress=False, stop_at=10)
    resumed = train(cfg, tmp_path / "split", resume=True, progress=False).metrics
    a, b = load_model(tmp_path / "full").state_dict(), load_model(tmp_path / "split").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full["top1_legal"] == resumed["top1_legal"]
    untrained = evaluate(build_model(preset("tiny")), random_games(64, 99))
    assert full["top1_legal"] > untrained["top1_legal"] + 0.05
    rows = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows})  # no duplicated rows after resume
    with pytest.raises(ValueError, match="different training config"):
        train(TrainConfig(**{**TINY, "lr": 1e-2}), tmp_path / "split", resume=True, progress=False)
    with pytest.raises(FileExistsError):
        train(cfg, tmp_path / "full", progress=False)


@pytest.mark.slow
def test_bf16_autocast_trains_with_fp32_weights(tmp_path):
    cfg = TrainConfig(**TINY, soft_targets=True)
    bf16 = train(cfg, tmp_path / "bf16", progress=False, precision="bf16")
    untrained = evaluate(build_model(preset("tiny")), random_games(64, 99))
    assert bf16.metrics["top1_legal"] > untrained["top1_legal"] + 0.05
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    # a run may resume at another precision: it is how the run executes, not part of its config
    train(cfg, tmp_path / "mixed", progress=False, stop_at=10, precision="fp32")
    assert train(cfg, tmp_path / "mixed", resume=True, progress=False, precision="bf16").step == TINY["steps"]
    with pytest.raises(ValueError, match="precision must be"):
        train(cfg, tmp_path / "bad", progress=False, precision="fp16")


def test_hard_targets_train(tmp_path):
    result = train(TrainConfig(**TINY), tmp_path / "hard", progress=False).metrics
    assert 0 <= result["top1_legal"] <= 1 and result["positions"] > 0


def test_checkpoint_mismatch_is_named(tmp_path):
    model = build_model(preset("tiny"))
    write_run_config(tmp_path, preset("tiny", d_mlp=128), None)
    save_model(tmp_path, model)
    # read from the weights' header, before a model is built
    with pytest.raises(CheckpointError, match=r"mlp\.in\.weight is \[64, 32\] but config.json implies \[128, 32\]"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model(tmp_path / "nothing")


@pytest.mark.slow
def test_two_processes_stay_in_sync(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    worker = Path(__file__).parent / "ddp_worker.py"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29531",
            str(worker),
            str(tmp_path / "ddp"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    r0, r1 = (load_file(str(tmp_path / "ddp" / f"rank{r}.safetensors")) for r in (0, 1))
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    saved = load_model(tmp_path / "ddp").state_dict()
    assert all(torch.equal(saved[k], r0[k]) for k in r0)
    start = build_model(preset("tiny")).state_dict()
    assert not all(torch.equal(start[k], r0[k]) for k in r0)  # it did train


def test_training_from_hdf5_files(tmp_path):
    from othello.data.datasets import generate
    from othello.data.streams import FileStream

    for i in range(2):
        generate(tmp_path / f"d-{i}.h5", 400, seed=3, shard=(i, 2), progress=False)
    spec = str(tmp_path / "d-*.h5")
    stream = FileStream(spec, batch_size=32, seed=0, block_games=256)
    assert np.array_equal(stream.batch(7), FileStream(spec, batch_size=32, seed=0, block_games=256).batch(7))
    epoch = int(stream.batches.sum())
    batches = [stream.batch(step) for step in range(epoch)]
    assert all(len(b) == 32 for b in batches)
    seen = [g.tobytes() for b in batches for g in b]
    assert len(seen) == len(set(seen))  # an epoch visits each training game at most once
    assert not np.array_equal(stream.batch(0), stream.batch(epoch))  # the next epoch is reshuffled
    train_games = set(seen)
    assert not train_games & {g.tobytes() for g in stream.eval_games(100)}
    result = train(TrainConfig(**{**TINY, "data": spec, "eval_games": 16}), tmp_path / "run", progress=False)
    assert result.step == TINY["steps"] and result.metrics["games"] == 16


@pytest.mark.slow
def test_init_from_starts_a_new_schedule_from_a_checkpoints_weights(tmp_path):
    source = train(TrainConfig(**TINY, soft_targets=True), tmp_path / "source", progress=False).model
    cfg = TrainConfig(
        **{**TINY, "steps": 8, "data_seed": 2, "lr": 1e-4}, soft_targets=True, init_from=str(tmp_path / "source")
    )
    start = train(cfg, tmp_path / "warm", progress=False, stop_at=0).model
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), start.state_dict().values()))
    warm = train(cfg, tmp_path / "warm", resume=True, progress=False)
    assert warm.step == 8
    cold = train(
        TrainConfig(**{**TINY, "steps": 8, "data_seed": 2, "lr": 1e-4}, soft_targets=True),
        tmp_path / "cold",
        progress=False,
    )
    assert warm.metrics["top1_legal"] > cold.metrics["top1_legal"] + 0.05  # it kept what the source learned
    with pytest.raises(CheckpointError, match="model config differs"):
        train(
            TrainConfig(**{**TINY, "preset": "narrow"}, init_from=str(tmp_path / "source")),
            tmp_path / "x",
            progress=False,
        )


@pytest.mark.slow
def test_init_from_a_checkpoint_with_fewer_blocks_grows_the_model_before_its_last_block(tmp_path):
    source = train(TrainConfig(**TINY), tmp_path / "source", progress=False).model
    cfg = TrainConfig(
        **{**TINY, "steps": 8, "data_seed": 2}, model_overrides={"n_layers": 4}, init_from=str(tmp_path / "source")
    )
    grown = train(cfg, tmp_path / "grown", progress=False, stop_at=0).model
    assert grown.othello_config.n_layers == 4
    games = random_games(32, 3)
    assert torch.allclose(move_logits(grown, games), move_logits(source, games), atol=1e-5)
    before, after = source.state_dict(), grown.state_dict()
    for name in ("ln1.weight", "attn.q.weight", "attn.o.weight", "mlp.out.weight"):
        assert torch.equal(after[f"blocks.0.{name}"], before[f"blocks.0.{name}"])
        assert torch.equal(after[f"blocks.3.{name}"], before[f"blocks.1.{name}"])  # the last block stays last
    new_outputs = [f"blocks.{b}.{n}" for b in (1, 2) for n in ("attn.o.weight", "mlp.out.weight")]
    assert all(not after[k].any() for k in new_outputs)
    trained = train(cfg, tmp_path / "grown", resume=True, progress=False).model.state_dict()
    assert all(trained[k].abs().sum() > 0 for k in new_outputs)  # the new blocks learn from zero outputs
    with pytest.raises(CheckpointError, match="fewer blocks"):
        train(
            TrainConfig(**TINY, model_overrides={"n_layers": 1}, init_from=str(tmp_path / "source")),
            tmp_path / "shallower",
            progress=False,
        )


def test_resume_reads_a_field_added_since_the_run_was_written_as_its_default(tmp_path):
    cfg = TrainConfig(**TINY)
    train(cfg, tmp_path / "run", progress=False, stop_at=4)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    del config["train"]["init_from"]  # as written before the field existed
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    assert train(cfg, tmp_path / "run", resume=True, progress=False).step == TINY["steps"]


def test_evaluate_reports_the_positions_after_a_pass_apart():
    model = build_model(preset("tiny"))
    games = random_games(200, 5)
    m = evaluate(model, games)
    r = replay(games[:, :59], ("legal", "passed"))
    # after an odd number of passes the player to move is not the one the move count's parity names
    after = (games[:, 1:60] >= 0) & (np.cumsum(r.passed, 1) % 2 == 1)
    logits, legal = (
        move_logits(model, games).reshape(-1, 61),
        torch.from_numpy(legal_token_mask(r.legal)).reshape(-1, 61),
    )
    expected = legal_move_scores(logits, legal, torch.from_numpy(after).reshape(-1))
    assert m["after_pass_positions"] == expected["positions"] == after.sum() > 0
    assert m["after_pass_top1_legal"] == pytest.approx(expected["top1_legal"])
    assert m["after_pass_legal_set_error"] == pytest.approx(expected["legal_set_error"])
    assert m["after_pass_positions"] < m["positions"]
    # of those, the ones where the pass was not forced at that very position
    earlier = after & ~r.passed
    expected = legal_move_scores(logits, legal, torch.from_numpy(earlier).reshape(-1))
    assert 0 < m["pass_earlier_positions"] == expected["positions"] == earlier.sum() < m["after_pass_positions"]
    assert m["pass_earlier_top1_legal"] == pytest.approx(expected["top1_legal"])
    assert m["pass_earlier_legal_set_error"] == pytest.approx(expected["legal_set_error"])
    clean = evaluate(model, games[~r.passed.any(1)])
    assert clean["after_pass_positions"] == 0 and clean["after_pass_top1_legal"] is None and clean["positions"] > 0
    assert clean["pass_earlier_positions"] == 0 and clean["pass_earlier_top1_legal"] is None


def test_the_progress_bar_shows_no_legal_rate_before_the_first_evaluation(tmp_path, capsys):
    train(TrainConfig(**{**TINY, "eval_every": 100}), tmp_path / "run", stop_at=6, progress=True)
    err = capsys.readouterr().err
    assert "loss=" in err and "nan" not in err
