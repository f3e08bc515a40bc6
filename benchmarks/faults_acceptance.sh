#!/usr/bin/env bash
# Issue 11's acceptance probes, end to end with the installed `scalinglab`:
#   1. two `sweep run` drivers started together on one 4-run sweep (each run trained once);
#   2. a sweep named ../x (exit 2, nothing written outside the runs root);
#   3. a corrupted latest checkpoint (resume from the previous one, same final loss);
#   4. one-line errors: non-UTF-8 corpus, --lr -1, a full disk (a 320 KiB tmpfs; needs root).
# Usage: bash benchmarks/faults_acceptance.sh [WORK_DIR]   (default: a new temporary folder)
# Tiny GPTs on the first 100 chapters of the embedded KJV; a few minutes on 2 cores.
set -u
PY="${PYTHON:-python}"
WORK="${1:-$(mktemp -d -t scalinglab-faults.XXXXXX)}"
mkdir -p "$WORK" && cd "$WORK" || exit 1
WORK="$(pwd)"
export SCALINGLAB_CACHE="$WORK/cache" OMP_NUM_THREADS=1
SL="$PY -m scalinglab"
echo "work folder: $WORK"
$PY - <<'PY'
import json
from scalinglab.data.corpus import load_corpus
docs = load_corpus("kjv").documents[:100]
open("kjv100.jsonl", "w").write("".join(json.dumps({"text": d}) + "\n" for d in docs))
PY
cat > pair.toml <<T
[sweep]
name = "pair"
design = "explicit"
vocab_size = 384
n_ctx = 32
seed = 0
[train]
corpus = "$WORK/kjv100.jsonl"
val_tokens = 1024
batch_size = 8
export_hf = false
[[runs]]
n_layer = 1
d_model = 32
tokens = 20000
[[runs]]
n_layer = 1
d_model = 64
tokens = 20000
[[runs]]
n_layer = 2
d_model = 32
tokens = 20000
[[runs]]
n_layer = 1
d_model = 32
tokens = 20000
seed = 1
T
echo "=== 1. two drivers started together on a 4-run sweep"
start=$(date +%s)
$SL sweep run pair.toml --registry reg/r.db --workers 1 > d1.out 2> d1.err & p1=$!
$SL sweep run pair.toml --registry reg/r.db --workers 1 > d2.out 2> d2.err & p2=$!
wait $p1; e1=$?; wait $p2; e2=$?
echo "driver 1 exit $e1: $(cat d1.out)"
echo "driver 2 exit $e2: $(cat d2.out)"
echo "wall $(( $(date +%s) - start )) s"
$PY - <<'PY'
import json
from pathlib import Path
from scalinglab.registry import Registry
with Registry("reg/r.db") as r:
    for run in r.runs("pair"):
        steps = [json.loads(l)["step"] for l in Path(run.out_dir, "metrics.jsonl").read_text().splitlines()]
        mono = all(a < b for a, b in zip(steps, steps[1:]))
        att = [(a.attempt, a.driver.split(":")[1], a.outcome) for a in r.attempts(run.run_id)]
        print(f"{run.run_id}: {run.status}, attempts {run.attempts}, attempt rows {att}, steps {steps} strictly increasing: {mono}")
PY
echo "=== 2. a sweep named ../x"
mkdir -p esc && sed 's/^name = .*/name = "..\/x"/' pair.toml > esc/escaped.toml
listed="$(mktemp -d)"  # outside WORK, so listing does not touch it
find "$WORK" -newer esc/escaped.toml > "$listed/before"
(cd esc && $SL sweep run escaped.toml --registry root/r.db; echo "exit $?")
find "$WORK" -newer esc/escaped.toml > "$listed/after"
echo "new paths after the command: $(diff "$listed/before" "$listed/after" | grep -c "^>") (x exists beside root: $(ls -d "$WORK/x" "$WORK/esc/x" 2>/dev/null | wc -l))"
echo "=== 3. corrupted latest checkpoint"
cat > run.toml <<T
n_layer = 1
d_model = 32
n_head = 2
n_ctx = 32
vocab_size = 384
tokens = 10240
batch_size = 8
corpus = "$WORK/kjv100.jsonl"
val_tokens = 1024
eval_every = 10
checkpoint_every = 10
peak_flops = 1e11
export_hf = false
device = "cpu"
T
sed 's/^tokens = 10240/tokens = 10240\nstop_at_step = 20/' run.toml > stop.toml
$SL train --config stop.toml --out ck/damaged --quiet > /dev/null; echo "stopped run exit $?; checkpoints: $(ls ck/damaged/checkpoints)"
$PY - <<'PY'
p = "ck/damaged/checkpoints/step-00000020/model.safetensors"
b = bytearray(open(p, "rb").read()); m = len(b) // 2; b[m:m + 8192] = b"\xff" * len(b[m:m + 8192]); open(p, "wb").write(b)
print("wrote 8 KB of 0xFF into", p)
PY
$SL train --config run.toml --out ck/damaged --resume --json > resumed.json; echo "resume exit $?"
$SL train --config run.toml --out ck/straight --json > straight.json; echo "straight exit $?"
$PY -c "
import json; a = json.load(open('resumed.json')); b = json.load(open('straight.json'))
print('resumed  :', a['status'], a['steps'], repr(a['final_val_loss']))
print('straight :', b['status'], b['steps'], repr(b['final_val_loss']))
print('identical:', a['final_val_loss'] == b['final_val_loss'])"
echo "=== 4. one-line errors"
printf 'First line\n\nCaf\xe9 in Latin-1\n' > latin1.txt
$SL train --corpus latin1.txt --out e/utf --quiet; echo "exit $?"
$SL train --lr -1 --out e/lr --quiet; echo "exit $?"
mkdir -p tiny && mount -t tmpfs -o size=320k tmpfs tiny && { $SL train --config run.toml --d-model 64 --out tiny/run --quiet 2>&1; echo "exit $?"; umount tiny; } 
