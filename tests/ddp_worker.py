"""Run by test_training through torchrun: train a few steps on several processes, then save each rank's
weights as that rank holds them, so the test can check the processes stayed in sync."""

import sys

import torch.distributed as dist
from safetensors.torch import save_file

from othello.train import TrainConfig, train

out = sys.argv[1]
cfg = TrainConfig(
    preset="tiny", steps=6, batch_size=8, eval_every=6, checkpoint_every=6, eval_games=16, log_every=2, warmup_steps=2
)
result = train(cfg, out, progress=False, threads=1)
state = result.model.state_dict()
save_file({k: v.contiguous() for k, v in state.items()}, f"{out}/rank{dist.get_rank()}.safetensors")
dist.barrier()
dist.destroy_process_group()
