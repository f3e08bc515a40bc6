#!/usr/bin/env bash
# scalinglab on a GPU machine, in one go (docs/gpu.md):
#   1. training MFU of a 125M GPT and a 125M llama at context 1024, bf16, eager and
#      torch.compile (fused AdamW, TF32);
#   2. `scalinglab train --fsdp` under torchrun on one GPU;
#   3. `scalinglab finetune` of MiniLM on the embedded tweets on CUDA;
#   4. `scalinglab serve` of that classifier on CUDA, probed over HTTP.
# Each step runs under a time limit (the whole script stays within about 8 minutes) and
# writes JSON under $OUT (default ./gpu_check_out): one file per step, the step's status
# in steps/, its log in logs/, and everything together in gpu_check.json.
#
#   bash benchmarks/gpu_check.sh                 # on a GPU machine
#   bash benchmarks/gpu_check.sh --cpu-smoke     # the same steps, tiny, on CPU (CI)
#   OUT=/tmp/check bash benchmarks/gpu_check.sh  # results elsewhere
#
# Installs nothing heavy: where `import scalinglab` fails it runs
# `pip install --no-deps --no-build-isolation -e .`, which keeps the machine's torch.
set -uo pipefail

MODE=gpu
OUT_DIR="${OUT:-./gpu_check_out}"
[[ "${GPU_CHECK_CPU_SMOKE:-0}" == 1 ]] && MODE=cpu-smoke
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu-smoke) MODE=cpu-smoke ;;
    --out) OUT_DIR="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (use --cpu-smoke, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-python}"
HELPER="$HERE/gpu_check.py"
mkdir -p "$OUT_DIR/steps" "$OUT_DIR/logs"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
CACHE="$OUT_DIR/cache"

if [[ "$MODE" == gpu ]]; then
  DEVICE=cuda SIZE=125m BATCH=16 STEPS=20
  T_EAGER=60 T_COMPILED=100 T_FSDP=75 T_FINETUNE=90 T_SERVE=45
  FSDP_SHAPE=(--n-layer 12 --d-model 768 --ctx 1024 --vocab 8192 --tokens 2000000 --batch-size 32)
  FT_ARGS=(--model minilm --max-train-examples 4000 --max-eval-examples 1000)
else
  DEVICE=cpu SIZE=tiny BATCH=2 STEPS=2
  T_EAGER=120 T_COMPILED=240 T_FSDP=120 T_FINETUNE=180 T_SERVE=120
  FSDP_SHAPE=(--n-layer 1 --d-model 32 --ctx 32 --vocab 512 --tokens 16384 --batch-size 8)
  FT_ARGS=(--model minilm-L1 --max-train-examples 64 --max-eval-examples 32 --threads 2)
fi

# run_step NAME LIMIT_S NOTE COMMAND...: run under `timeout`, log to logs/NAME.log, write
# steps/NAME.status.json (ok | failed | timeout, exit status, seconds, command).
run_step() {
  local name="$1" limit="$2" note="$3"; shift 3
  local log="$OUT_DIR/logs/$name.log" began rc status
  echo "== $name (limit ${limit} s): $*"
  began=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  case $rc in 0) status=ok ;; 124|137) status=timeout ;; *) status=failed ;; esac
  write_status "$name" "$status" "$rc" "$began" "$note" "$*"
  [[ $status == ok ]] || tail -n 5 "$log" | sed "s/^/   $name: /"
  return $rc
}

# write_status NAME STATUS RC BEGAN NOTE COMMAND
write_status() {
  "$PY" - "$OUT_DIR/steps/$1.status.json" "$@" <<'EOF'
import json, sys, time
path, name, status, rc, began, note, command = sys.argv[1:8]
json.dump({"status": status, "exit_status": int(rc), "seconds": time.time() - float(began),
           "note": note, "command": command, "log": f"logs/{name}.log"},
          open(path, "w"), indent=2)
EOF
}

skip_step() {
  echo "== $1: skipped ($2)"
  write_status "$1" skipped 0 "$(date +%s.%N)" "$2" ""
}

cd "$ROOT" || exit 2
if ! "$PY" -c "import scalinglab" 2>/dev/null; then
  "$PY" -m pip install --no-deps --no-build-isolation -e . >"$OUT_DIR/logs/install.log" 2>&1 \
    || { echo "gpu_check.sh: cannot install scalinglab (see $OUT_DIR/logs/install.log)" >&2; exit 2; }
fi
run_step environment 60 "torch, CUDA, GPU" "$PY" "$HELPER" environment --json "$OUT_DIR/environment.json"
if [[ "$MODE" == gpu ]] && ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "gpu_check.sh: torch sees no CUDA GPU here; use --cpu-smoke on a machine without one" >&2
  "$PY" "$HELPER" collect --out "$OUT_DIR" --mode "$MODE" >/dev/null
  exit 2
fi

# 1. MFU: eager and compiled, GPT and llama
for family in gpt llama; do
  run_step "mfu_${family}_eager" "$T_EAGER" "$SIZE $family, bf16, eager" \
    "$PY" "$HELPER" mfu --family "$family" --size "$SIZE" --device "$DEVICE" \
    --batch "$BATCH" --steps "$STEPS" --json "$OUT_DIR/mfu_${family}_eager.json"
  run_step "mfu_${family}_compiled" "$T_COMPILED" "$SIZE $family, bf16, torch.compile" \
    "$PY" "$HELPER" mfu --family "$family" --size "$SIZE" --device "$DEVICE" --compile \
    --batch "$BATCH" --steps "$STEPS" --json "$OUT_DIR/mfu_${family}_compiled.json"
done

# 2. FSDP on one GPU (one torchrun process)
rm -rf "$OUT_DIR/fsdp_run"
if run_step fsdp "$T_FSDP" "scalinglab train --fsdp, torchrun --nproc-per-node 1" \
  "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 -m scalinglab train \
  --fsdp --family gpt "${FSDP_SHAPE[@]}" --device "$DEVICE" --cache-dir "$CACHE" \
  --out "$OUT_DIR/fsdp_run" --quiet; then
  cp "$OUT_DIR/fsdp_run/summary.json" "$OUT_DIR/fsdp.json"
fi

# 3. fine-tune a classifier, 4. serve it
rm -rf "$OUT_DIR/classifier"
if run_step finetune "$T_FINETUNE" "MiniLM on tweets-binary, full, 1 epoch" \
  "$PY" -m scalinglab finetune "${FT_ARGS[@]}" --task tweets-binary --method full --epochs 1 \
  --device "$DEVICE" --out "$OUT_DIR/classifier" --json "$OUT_DIR/finetune.json" --quiet; then
  PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  "$PY" -m scalinglab serve --model "$OUT_DIR/classifier" --device "$DEVICE" \
    --host 127.0.0.1 --port "$PORT" --log-level warning >"$OUT_DIR/logs/server.log" 2>&1 &
  SERVER=$!
  run_step serve "$T_SERVE" "scalinglab serve on $DEVICE, 20 requests" "$PY" -c "
import subprocess, sys, time, urllib.request
deadline = time.monotonic() + $T_SERVE - 15
while True:
    try:
        urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit('the server did not answer /health')
        time.sleep(0.5)
sys.exit(subprocess.call([sys.executable, '$HELPER', 'serve-probe',
    '--url', 'http://127.0.0.1:$PORT', '--json', '$OUT_DIR/serve.json']))"
  kill "$SERVER" 2>/dev/null
  wait "$SERVER" 2>/dev/null
else
  skip_step serve "no classifier: the finetune step did not complete"
fi

"$PY" "$HELPER" collect --out "$OUT_DIR" --mode "$MODE"
