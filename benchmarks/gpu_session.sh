#!/bin/bash
# The published shape on one GPU in one call: calibrate tokens/s, train the `othello-gpt` preset for BUDGET_S seconds
# with the cosine sized to fit, write the weights (bf16, split into 15 MiB parts), config and metrics to $OUT first,
# then evaluate, probe and intervene while TOTAL_S lasts (each later stage is skipped when too little time is left).
# Probes are fitted on the GPU, on PROBE_GAMES games (8,000: the MLP colour probe needs more than 2,000; README).
#
#     OUT=/tmp/big bash benchmarks/gpu_session.sh            # on a machine with CUDA and this repo
#
# On a machine without transformer_lens (and no network) carry its wheels in .whl/ (pip download --no-deps
# --only-binary=:all: --python-version 3.12 ... transformer_lens==4.3.0 datasets dill multiprocess): they are
# installed into /tmp/site. WTHOR_TEST names a games file of championship games to evaluate on (its test split);
# make it here with: python -c "from othello.data.datasets import load_moves, write_games; write_games('runs/gpu/wthor-test.h5',
# load_moves('data/wthor.h5', split='test'), 'wthor test split')".
# Back home: mkdir M && cp $OUT/config.json $OUT/metrics.jsonl M/ && cat $OUT/weights/model.safetensors.part-* >
# M/model.safetensors (check it against $OUT/weights/SHA256); `othello-gpt eval --model M ...` then loads it.
# Dry run on a CPU: PRESET=tiny DEVICE=cpu BATCH=16 BUDGET_S=20 TOTAL_S=400 PROBE_GAMES=300 CASES=20 EVAL_GAMES=2000 \
#     STARTS=1,2 MLP_LAYERS=1,2 GRAD_START=2 OUT=/tmp/gpu bash benchmarks/gpu_session.sh
set -uo pipefail
PY=${PY:-python3}; DEVICE=${DEVICE:-cuda}; PRESET=${PRESET:-othello-gpt}; BATCH=${BATCH:-512}
BUDGET_S=${BUDGET_S:-300}; TOTAL_S=${TOTAL_S:-540}; LR=${LR:-6e-4}
PROBE_GAMES=${PROBE_GAMES:-8000}; CASES=${CASES:-1000}; EVAL_GAMES=${EVAL_GAMES:-100000}
STARTS=${STARTS:-2,4,6}; MLP_LAYERS=${MLP_LAYERS:-4,5,6,7,8}; GRAD_START=${GRAD_START:-4}
WTHOR_TEST=${WTHOR_TEST:-runs/gpu/wthor-test.h5}
OUT=${OUT:?set OUT}; RUN=/tmp/big-$PRESET
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
log() { echo "[$(date +%T) t=${SECONDS}s] $*" | tee -a "$OUT/session.log"; }
left() { [ $((TOTAL_S - SECONDS)) -gt "$1" ]; }
if ! $PY -c "import transformer_lens" 2>/dev/null && [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD:${PYTHONPATH:-}
fi
CLI="$PY -m othello.cli"
$PY -c "import transformer_lens, othello.model, torch; print('imports ok; torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$OUT/session.log" | grep -q "imports ok" || exit 4
nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null | tee -a "$OUT/session.log"

log "calibrating $PRESET, batch $BATCH on $DEVICE"
rm -rf /tmp/calib
$CLI train --preset $PRESET --device $DEVICE --batch-size $BATCH --steps 80 --warmup-steps 10 --soft-targets \
  --eval-every 100000 --eval-games 100 --checkpoint-every 100000 --out /tmp/calib --json > "$OUT/calib.log" 2>&1 \
  || { tail -30 "$OUT/calib.log"; exit 5; }
STEPS=$($PY -c "
import json, statistics
rows = [json.loads(l) for l in open('/tmp/calib/metrics.jsonl')]
t = [(r['step'], r['time']) for r in rows if 'tokens_per_s' in r]
(s0, t0), (s1, t1) = t[1], t[-1]          # steps/s after the first window (CUDA start-up, autotuning)
rate = (s1 - s0) / (t1 - t0)
print(max(100, int(0.85 * $BUDGET_S * rate)))
")
log "training $STEPS steps (about $BUDGET_S s)"
rm -rf $RUN
$CLI train --preset $PRESET --device $DEVICE --batch-size $BATCH --steps $STEPS --lr $LR --warmup-steps $((STEPS / 20 + 1)) \
  --min-lr-ratio 0.1 --soft-targets --eval-every $((STEPS / 4 + 1)) --eval-games 2000 --checkpoint-every $((STEPS / 5 + 1)) \
  --minutes $(( (BUDGET_S * 13 / 10) / 60 + 1 )) --out $RUN --json > "$OUT/train.log" 2>&1 || { tail -30 "$OUT/train.log"; exit 6; }
tail -1 "$OUT/train.log"
cp $RUN/config.json $RUN/metrics.jsonl "$OUT"/ ; cp $RUN/curves.png "$OUT"/ 2>/dev/null
$PY -c "
import torch
from othello.model.checkpoints import load_model, save_model
save_model('/tmp/bf16', load_model('$RUN'), dtype=torch.bfloat16)
"
mkdir -p "$OUT/weights" && split -b 15M /tmp/bf16/model.safetensors "$OUT/weights/model.safetensors.part-"
sha256sum /tmp/bf16/model.safetensors > "$OUT/weights/SHA256"
log "weights: $(du -h /tmp/bf16/model.safetensors | cut -f1) bf16"

log "evaluating"
$CLI generate --games $EVAL_GAMES --seed 1 --out /tmp/s1.h5 > /dev/null 2>&1
$CLI generate --games $PROBE_GAMES --seed 7 --out /tmp/s7.h5 > /dev/null 2>&1
$CLI eval --model $RUN --data /tmp/s1.h5 --split test --device $DEVICE --json > "$OUT/eval_synthetic.json" 2>>"$OUT/errors.log"
[ -f "$WTHOR_TEST" ] && $CLI eval --model $RUN --data "$WTHOR_TEST" --split test --device $DEVICE --json > "$OUT/eval_wthor.json" 2>>"$OUT/errors.log"
cat "$OUT"/eval_*.json

WTHOR=$([ -f "$WTHOR_TEST" ] && echo "$WTHOR_TEST")
IE="$CLI intervene-eval --model $RUN --cases $CASES --data synthetic $WTHOR --device $DEVICE --json"
left 60 && { log "linear probes, every layer"; $CLI probe --model $RUN --data /tmp/s7.h5 --games $PROBE_GAMES --labels relative,colour --kind linear --device $DEVICE --json > "$OUT/probe_linear.json" 2>>"$OUT/errors.log"; }
left 60 && { log "linear whole-board edits"; $IE --positions 5 --whole-board --starts $STARTS > "$OUT/ie_linear_board.json" 2>>"$OUT/errors.log"; }
left 60 && { $IE --positions 5 --whole-board --keep read --starts $STARTS > "$OUT/ie_linear_read.json" 2>>"$OUT/errors.log"; }
left 60 && { log "one-square edits"; $IE --positions 1 --starts $STARTS --scales 1,2 > "$OUT/ie_linear_square.json" 2>>"$OUT/errors.log"; }
left 60 && { log "resid_mid probes"; $CLI probe --model $RUN --data /tmp/s7.h5 --games $PROBE_GAMES --labels relative --kind linear --site resid_mid --device $DEVICE --json > "$OUT/probe_resid_mid.json" 2>>"$OUT/errors.log"; }
left 60 && { log "whose turn it is, every layer"; $CLI probe --model $RUN --data /tmp/s7.h5 --games $PROBE_GAMES --labels next_mover --kind linear --device $DEVICE --json > "$OUT/probe_next_mover.json" 2>>"$OUT/errors.log"; }
left 90 && { log "MLP probes, layers $MLP_LAYERS"; $CLI probe --model $RUN --data /tmp/s7.h5 --games $PROBE_GAMES --labels relative,colour --kind mlp --hidden 512 --layers $MLP_LAYERS --device $DEVICE --json > "$OUT/probe_mlp.json" 2>>"$OUT/errors.log"; }
left 90 && { log "gradient edits"; $IE --method gradient --positions 1 --starts $GRAD_START > "$OUT/ie_gradient.json" 2>>"$OUT/errors.log"; }
log "done"
