"""Our SAE trainer against sae-lens's ``SAETrainer`` on the same activations and the same shape, in one run.

    .venv-tl3/bin/python benchmarks/sae_trainers.py [--data ACTS.h5 --hook HOOK] [--steps 50] [--repeats 3]

sae-lens installs only beside TransformerLens 3.9, hence ``.venv-tl3``. Both trainers read the same batches
(``othello.sae.train.ActivationChunks``: from ``--data``, an activation
file written by ``collect_activations(out=...)``, or
by default a file of synthetic activations of the shipped model's width, sparse combinations of random directions)
and train a TopK SAE of the first round's shape (4,096 latents, k 32, batches of 4,096 tokens, Adam, lr 4e-4, AuxK 1/32)
for ``--steps`` steps; the script prints each one's median tokens/s over ``--repeats`` runs and their ratio.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch
from timing import median_time  # benchmarks/timing.py: scripts here run with this folder on the path

from othello.sae.config import SAETrainConfig
from othello.sae.train import ActivationChunks, train_sae

D_IN, LATENTS, K, BATCH, LR = 256, 4096, 32, 4096, 4e-4


def synthetic_file(path: Path, games: int = 600, atoms: int = 4096, per_token: int = 24, seed: int = 0) -> Path:
    """An activation file (``collect_activations``' layout) of ``games`` x 59 rows, each a sparse positive
    combination of ``per_token`` of ``atoms`` random unit directions in ``D_IN`` dimensions."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(atoms, D_IN)).astype(np.float32)
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    n = games * 59
    chosen = rng.integers(0, atoms, size=(n, per_token))
    weights = rng.uniform(0.5, 2.0, size=(n, per_token)).astype(np.float32)
    rows = np.einsum("nk,nkd->nd", weights, basis[chosen])
    with h5py.File(path, "w") as f:
        f["synthetic"] = rows.reshape(games, 59, D_IN)
        f["moves"] = np.zeros((games, 60), np.int8)
        f.attrs["positions"] = np.arange(59)
    return path


def ours(cfg: SAETrainConfig) -> None:
    with tempfile.TemporaryDirectory() as out:
        train_sae(None, cfg, out, progress=False)


def sae_lens_trainer(cfg: SAETrainConfig) -> None:
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(cfg.seed)
    sae = TopKTrainingSAE(
        TopKTrainingSAEConfig(
            d_in=D_IN,
            d_sae=cfg.latents,
            k=cfg.k,
            aux_loss_coefficient=cfg.aux_coefficient,
            normalize_activations="expected_average_only_in",
        )
    )
    data = ActivationChunks(None, cfg)
    try:
        batches = (x for _, _, x in data.batches(0, 0))
        trainer_cfg = SAETrainerConfig(
            total_training_samples=cfg.steps * cfg.batch_size,
            train_batch_size_samples=cfg.batch_size,
            lr=cfg.lr,
            lr_end=0.0,  # ours: warm-up over 1 % of the steps, linear decay to 0 over the last 20 %
            lr_warm_up_steps=max(1, cfg.steps // 100),
            lr_decay_steps=cfg.steps - int(cfg.steps * 0.8),
            n_batches_for_norm_estimate=1,
        )
        SAETrainer(trainer_cfg, sae, batches).fit()
    finally:
        data.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an HDF5 activation file (default: synthetic activations)")
    parser.add_argument("--hook", default="blocks.6.hook_resid_mid", help="the dataset in --data to read")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data, hook = args.data, args.hook
        if data is None:
            data, hook = str(synthetic_file(Path(tmp) / "synthetic.h5")), "synthetic"
        cfg = SAETrainConfig(
            hook=hook,
            arch="topk",
            latents=LATENTS,
            k=K,
            lr=LR,
            tokens=args.steps * BATCH,
            batch_size=BATCH,
            checkpoint_every=10**9,
            data=data,
        )
        tokens = cfg.steps * cfg.batch_size
        print(f"TopK SAE, {D_IN} -> {LATENTS} latents, k {K}, batches of {BATCH} tokens, {cfg.steps} steps")
        print(f"data: {args.data or 'synthetic activations'}; median of {args.repeats} runs each, same batches")
        ours_s = median_time(lambda: ours(cfg), args.repeats)
        lens_s = median_time(lambda: sae_lens_trainer(cfg), args.repeats)
        print(f"{'trainer':<28}{'seconds':>10}{'tokens/s':>12}")
        print(f"{'ours (othello.sae.train.train_sae)':<28}{ours_s:>10.1f}{tokens / ours_s:>12,.0f}")
        print(f"{'sae-lens SAETrainer':<28}{lens_s:>10.1f}{tokens / lens_s:>12,.0f}")
        print(f"ours / sae-lens speed: {lens_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
