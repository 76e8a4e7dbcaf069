#!/usr/bin/env bash
# A short GPU check of two fixes made after bench/gpu/e2e.sh's call, for a session with little device
# time: (1) `medtune gpu --run ID` marks the trainer although nvidia-smi names it by its interpreter, and (2) `stop`
# reaches the trainer itself at once (SIGABRT to the trainers, not the loader workers first). The tiny model with
# the gpu-140g profile (batch 48, 8 persistent loader workers) on the offline sample set: no model build, no scans.
# Carried as for e2e.sh (bench/gpu/stage.sh). From the carry folder's repo/:  OUT=... bash bench/gpu/verify.sh
# Every step is timed into $OUT/steps.tsv as it ends, so a call cut short still brings back what it reached.
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD; CARRY=$(dirname "$REPO")
started=$(date +%s); OUT=${OUT:-/tmp/verifyout}
T=/tmp/mt; WS=$T/ws; mkdir -p "$OUT" "$T/bin" "$WS"
LOG=$OUT/verify.log; STEPS=$OUT/steps.tsv
printf 'step\tat_s\tseconds\trc\n' > "$STEPS"
now() { echo $(( $(date +%s) - started )); }
step() {
  local name=$1; shift; local t0; t0=$(date +%s.%N)
  echo "===== $name ($(now) s): $*" >> "$LOG"
  "$@" >> "$LOG" 2>&1; local rc=$?
  local dt; dt=$(python3 -c "import time;print(round(time.time()-$t0,1))")
  printf '%s\t%s\t%s\t%s\n' "$name" "$(now)" "$dt" "$rc" >> "$STEPS"
  return $rc
}
step unpack bash -c "xz -dc '$CARRY/node.xz' > $T/bin/node && chmod +x $T/bin/node && tar -xJf '$CARRY/bundle.tar.xz' -C $T && tar -xJf '$CARRY/whl.tar.xz' -C $T"
export PATH=$T/bin:$PATH PYTHONUNBUFFERED=1 MEDTUNE_CACHE=$T/cache MEDTUNE_PYTHON=$(command -v python3)
MT() { node $T/bundle/bin/medtune.js -w "$WS" "$@"; }
step setup MT setup --system-torch --wheels $T/whlstored --json || exit 1
step data MT data prepare --source sample --name sample --val-ratio 0.1 --json
step model MT model tiny --json
step train MT train -m $WS/models/tiny-qwen2-vl -d sample -p gpu-140g --set max_steps=1000000 --set save_steps=400 --set logging_steps=5 --name verify --detach --json
RID=$(ls -t $WS/runs | head -1); RD=$WS/runs/$RID
steps_done() { python3 -c "
import json
n = 0
try:
    for l in open('$RD/output/trainer_log.jsonl'):
        try: n = max(n, json.loads(l).get('current_steps', 0))
        except ValueError: pass
except OSError: pass
print(n)"; }
t=0; while [ "$(steps_done)" -lt 40 ] && [ $t -lt 120 ]; do sleep 1; t=$((t+1)); done
echo "steps before gpu: $(steps_done) after $t s" >> "$LOG"
step gpu-once bash -c "MT() { node $T/bundle/bin/medtune.js -w $WS \"\$@\"; }; MT gpu --once --json --run $RID > $OUT/gpu.json; nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv > $OUT/smi-apps.csv; ps -o pid,ppid,comm,args -e | grep -E 'llamafactory|python' | grep -v grep > $OUT/ps.txt"
echo "steps at stop: $(steps_done)" >> "$LOG"
step stop MT stop $RID --json
echo "steps after stop: $(steps_done); left: $(pgrep -fc "$RD" || true) processes naming the run" >> "$LOG"
step status MT status $RID --json
step resume MT resume $RID --detach --json
t=0; s0=$(steps_done); while [ "$(steps_done)" -le "$s0" ] && [ $t -lt 60 ]; do sleep 1; t=$((t+1)); done
echo "resumed: steps $s0 -> $(steps_done) after $t s" >> "$LOG"
step stop2 MT stop $RID --json
cp $RD/run.json $RD/supervisor.log $OUT/ 2>/dev/null
tail -c 4000 $RD/stderr.log > $OUT/stderr-tail.txt 2>/dev/null
echo "done at $(now) s" >> "$LOG"
