"""Sparse-autoencoder speed and memory on the shipped model, each beside a baseline measured in the same run.

    .venv/bin/python benchmarks/sae_speed.py [--model models/small8] [--steps 10] [--memory-tokens 50000]
                                             [--eval-only] [--memory-only]

- training throughput of the first round's shape (4,096 latents, k 32, batches of 4,096 tokens at
  blocks.6.hook_resid_mid): the activations (the model run up to the hook, against the whole forward pass), the SAE
  step (TopK with a dense decoder, against gathering the k decoder rows per token; and ReLU + L1), and the two
  together, in tokens/s (medians);
- the evaluation table (``evaluate_sae``: reconstruction, downstream, coverage, board reconstruction) on
  ``--eval-games`` held-out games, in seconds;
- peak memory of ``train_sae`` in a fresh process at ``--memory-tokens`` tokens and at 10x as many (1,024
  latents, to keep it short): streaming should keep them level.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch
from timing import median_time  # benchmarks/timing.py: scripts here run with this folder on the path

from othello.data.seeds import SAE_SEED
from othello.engine.games import random_games
from othello.model.checkpoints import load_model
from othello.model.tokens import model_inputs
from othello.sae.autoencoder import SparseAutoencoder
from othello.sae.config import SAEConfig, SAETrainConfig
from othello.sae.evaluate import evaluate_sae
from othello.sae.train import _loss, activations_at

HOOK = "blocks.6.hook_resid_mid"


def gather_step(sae: SparseAutoencoder, x: torch.Tensor, k: int) -> torch.Tensor:
    """The TopK loss with the decoder gathered row by row (the alternative to the dense matmul)."""
    target = x * sae.input_scale
    top = ((target - sae.b_dec) @ sae.W_enc + sae.b_enc).topk(k, dim=-1)
    recon = (torch.relu(top.values)[..., None] * sae.W_dec[top.indices]).sum(1) + sae.b_dec
    return ((recon - target) ** 2).sum(-1).mean()


def peak_memory(tokens: int) -> float:
    """Peak resident memory (MB) of a fresh process training a 1,024-latent SAE on ``tokens`` tokens."""
    code = (
        "import resource, tempfile\n"
        "from othello.model import load_model\n"
        "from othello.sae.config import SAETrainConfig\nfrom othello.sae.train import train_sae\n"
        f"cfg = SAETrainConfig(hook={HOOK!r}, latents=1024, k=32, batch_size=4096, tokens={tokens}, "
        "checkpoint_every=10**9)\n"
        "train_sae(load_model(), cfg, tempfile.mkdtemp(), progress=False)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec
        "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1]) / 1024


def evaluation_time(model: torch.nn.Module, games: int) -> None:
    moves = random_games(games, SAE_SEED)
    sae = SparseAutoencoder(SAEConfig(256, 4096, "topk", 32))
    t = time.perf_counter()
    evaluate_sae(model, sae, HOOK, moves)
    print(f"evaluation table, {games} games: {time.perf_counter() - t:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eval-games", type=int, default=1000)
    parser.add_argument("--memory-tokens", type=int, default=50_000)
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--eval-only", action="store_true", help="only the evaluation table")
    args = parser.parse_args()
    if args.memory_only:
        small, large = peak_memory(args.memory_tokens), peak_memory(10 * args.memory_tokens)
        print(f"peak memory: {small:,.0f} MB at {args.memory_tokens:,} tokens, {large:,.0f} MB at 10x")
        return
    model = load_model(args.model)
    print(f"torch threads {torch.get_num_threads()}", flush=True)
    if args.eval_only:
        evaluation_time(model, args.eval_games)
        return

    tokens = model_inputs(random_games(250, SAE_SEED, first_index=20_000))
    n_tokens = int((tokens > 0).sum())
    with torch.no_grad():
        whole = median_time(lambda: model(tokens), 3)
        upto = median_time(lambda: activations_at(model, tokens, HOOK), 3)
    print(f"activations: {n_tokens / upto:,.0f} tokens/s up to the hook; whole forward {n_tokens / whole:,.0f}")

    cfg = SAETrainConfig(hook=HOOK, k=32, batch_size=4096)  # the shape of BENCHMARKS.md's first SAE figures
    x = torch.from_numpy(activations_at(model, tokens, HOOK)[tokens > 0][:4096].copy())
    x = torch.cat([x] * (4096 // len(x) + 1))[:4096]
    rates = {}
    for arch in ("topk", "relu"):
        sae = SparseAutoencoder(SAEConfig(256, 4096, arch, 32))
        opt = torch.optim.Adam(sae.parameters(), lr=1e-4)
        c = SAETrainConfig(**{**cfg.__dict__, "arch": arch})
        dead = torch.zeros(4096, dtype=torch.bool)

        def step(sae=sae, opt=opt, c=c, dead=dead) -> None:
            loss, _, _ = _loss(sae, x, c, dead, 10)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()
        rates[arch] = 4096 / median_time(step, args.steps)
    sae = SparseAutoencoder(SAEConfig(256, 4096, "topk", 32))
    opt = torch.optim.Adam(sae.parameters(), lr=1e-4)

    def gathered() -> None:
        loss = gather_step(sae, x, 32)
        opt.zero_grad()
        loss.backward()
        opt.step()

    gathered()
    gather_rate = 4096 / median_time(gathered, args.steps)
    print(
        f"SAE step: topk {rates['topk']:,.0f} tokens/s (dense decoder), {gather_rate:,.0f} gathered "
        f"(dense {rates['topk'] / gather_rate:.2f}x); relu + L1 {rates['relu']:,.0f}"
    )
    together = 1 / (1 / rates["topk"] + 1 / (n_tokens / upto))
    print(
        f"training, activations and steps together: {together:,.0f} tokens/s (5M tokens: {5e6 / together / 60:.0f} min)"
    )

    evaluation_time(model, args.eval_games)

    small, large = peak_memory(args.memory_tokens), peak_memory(10 * args.memory_tokens)
    print(
        f"peak memory: {small:,.0f} MB at {args.memory_tokens:,} tokens, {large:,.0f} MB at "
        f"{10 * args.memory_tokens:,} ({large / small:.2f}x)"
    )


if __name__ == "__main__":
    main()
