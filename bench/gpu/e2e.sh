#!/usr/bin/env bash
# medtune end to end on a GPU machine with no Node and no network, through medtune's CLI only.
# Results: bench/results/gpu-e2e.md. Carried (see bench/gpu/stage.sh): node.xz, bundle.tar.xz (npm run bundle),
# whl.tar.xz (wheels stored uncompressed, then xz), this repo's bench/ folder. From the carry folder's repo/:
#   OUT=... bash bench/gpu/e2e.sh
# Every step is timed into $OUT/steps.tsv and logged into $OUT/e2e.log; a failed step is recorded and the script
# goes on where it can. MT_BUDGET_S: seconds after which optional steps are skipped.
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD; CARRY=$(dirname "$REPO")
started=$(date +%s); OUT=${OUT:-/tmp/e2eout}; BUDGET=${MT_BUDGET_S:-540}
T=/tmp/mt; WS=$T/ws; mkdir -p "$OUT" "$T/bin" "$WS"
LOG=$OUT/e2e.log; STEPS=$OUT/steps.tsv
printf 'step\tstart_s\tseconds\trc\n' > "$STEPS"
now() { echo $(( $(date +%s) - started )); }
step() { # step NAME CMD...: runs, times, logs
  local name=$1; shift; local t0; t0=$(date +%s.%N)
  echo "===== $name ($(now) s): $*" >> "$LOG"
  "$@" >> "$LOG" 2>&1; local rc=$?
  local dt; dt=$(python3 -c "import time;print(round(time.time()-$t0,1))")
  printf '%s\t%s\t%s\t%s\n' "$name" "$(now)" "$dt" "$rc" >> "$STEPS"
  echo "$name: rc $rc, ${dt} s (at $(now) s)"
  return $rc
}
left() { [ $(( started + BUDGET - $(date +%s) )) -gt "$1" ]; }

nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu,power.draw --format=csv,noheader,nounits -lms 500 > "$OUT/smi.csv" 2>/dev/null &
smi=$!
step unpack bash -c "xz -dc '$CARRY/node.xz' > $T/bin/node && chmod +x $T/bin/node && tar -xJf '$CARRY/bundle.tar.xz' -C $T && tar -xJf '$CARRY/whl.tar.xz' -C $T && ls $T/whlstored | wc -l"
export PATH=$T/bin:$PATH PYTHONUNBUFFERED=1 MEDTUNE_CACHE=$T/cache
# The machine's python3 is the one with the CUDA torch (/opt/torch/.venv); python3.12 on PATH may be the bare system one.
export MEDTUNE_PYTHON=$(command -v python3)
MT() { node $T/bundle/bin/medtune.js -w "$WS" "$@"; }
export -f MT 2>/dev/null; export T WS
# The synthetic scans (system Python + medtune's helper modules), while setup runs.
( PYTHONPATH=$T/bundle/python python3 -m medtune_py.sample_set --out $T/src --rows 2000 --shards 8 --size 512 --format jpeg > $T/sample.log 2>&1; echo "sample_set rc $? at $(now) s" >> $T/sample.log ) &
gen=$!
step version MT --version
step setup MT setup --system-torch --wheels $T/whlstored --json
step doctor bash -c "node $T/bundle/bin/medtune.js -w $WS doctor --json > $OUT/doctor.json; cat $OUT/doctor.json | head -c 3000"
VPY=$(ls -d $T/cache/venv-*-system 2>/dev/null | head -1)/bin/python
( PYTHONPATH=$T/bundle/python $VPY bench/gpu-train/build_model.py --out $WS/models/qwen2vl-2b-arch --preset 2b --vocab-size 151936 > $T/model.log 2>&1; echo "model rc $? at $(now) s" >> $T/model.log ) &
model=$!
wait $gen; cat $T/sample.log | tail -n 2 >> "$LOG"
step data-prepare MT data prepare --source $T/src --name scans --val-ratio 0.05 --json
wait $model; tail -n 3 $T/model.log >> "$LOG"
RUNS=$WS/runs
step train MT train -m $WS/models/qwen2vl-2b-arch -d scans -p gpu-140g --set max_steps=60 --set save_steps=20 --set logging_steps=5 --detach --json
RID=$(ls -t $RUNS | head -1); RD=$RUNS/$RID; echo "run $RID" >> "$LOG"
steps_done() { python3 - "$RD" <<'PY'
import json, sys, glob
n = 0
for f in glob.glob(sys.argv[1] + "/output/trainer_log.jsonl"):
    for line in open(f):
        try: n = max(n, json.loads(line).get("current_steps", 0))
        except ValueError: pass
print(n)
PY
}
wait_step() { local want=$1 lim=$2 t=0; while [ "$(steps_done)" -lt "$want" ] && [ $t -lt $lim ]; do sleep 1; t=$((t+1)); done; }
step first-log bash -c "$(declare -f steps_done wait_step); RD=$RD; wait_step 5 150; steps_done"
step gpu-once bash -c "node $T/bundle/bin/medtune.js -w $WS gpu --once --json --run $RID > $OUT/gpu.json; head -c 2500 $OUT/gpu.json"
step tui bash -c "python3 $REPO/bench/gpu/tui_capture.py --cols 110 --rows 36 --wait 8 --keys $'4\r' --settle 6 -- node $T/bundle/bin/medtune.js -w $WS > $OUT/tui.txt; cat $OUT/tui.txt"
step attach bash -c "timeout -s INT 10 node $T/bundle/bin/medtune.js -w $WS attach $RID; true"
step wait-ckpt bash -c "$(declare -f steps_done wait_step); RD=$RD; wait_step 25 120; steps_done; ls $RD/output"
step stop MT stop $RID --json
step steps-at-stop bash -c "$(declare -f steps_done); RD=$RD; steps_done; ls $RD/output"
step resume MT resume $RID --detach --json
step attach-to-end bash -c "timeout 200 node $T/bundle/bin/medtune.js -w $WS attach $RID --json; $(declare -f steps_done); RD=$RD; steps_done"
step run-json bash -c "python3 -c \"import json;m=json.load(open('$RD/run.json'));print(m['status'],[ (a.get('pid'),a.get('exitCode'),a.get('resumeFrom'),a.get('startStep')) for a in m['attempts']])\"; grep -h current_steps $RD/output/trainer_log.jsonl | python3 -c \"import sys,json;r=[json.loads(l) for l in sys.stdin];print([(x['current_steps'],round(x.get('loss',0),3)) for x in r])\""
left 200 && step export MT export $RID --name e2e --json
left 120 && step eval MT eval $RID -n 16 --batch-size 8 --json
left 90 && step compare MT compare -t export:e2e -n 2 --max-new-tokens 48
# Capped profiles: the allocator limited to what the smaller card would give (bench/gpu/sitecustomize).
capped() { # capped PROFILE CAP_GIB
  env PYTHONPATH=$REPO/bench/gpu/sitecustomize MT_MEM_CAP_GIB=$2 node $T/bundle/bin/medtune.js -w $WS train -m $WS/models/qwen2vl-2b-arch -d scans -p $1 --set max_steps=24 --set logging_steps=4 --set save_steps=1000 --name cap-$1 --detach --json &&
  timeout 150 node $T/bundle/bin/medtune.js -w $WS attach --json > /dev/null; tail -n 2 $(ls -td $RUNS/*cap-$1*/output | head -1)/trainer_log.jsonl
}
left 100 && step cap-16g capped gpu-16g 15.0
left 100 && step cap-80g capped gpu-80g 66.5
kill $smi 2>/dev/null
tar -czf "$OUT/runs.tar.gz" --exclude='*.safetensors' --exclude='*.pt' --exclude='*.bin' --exclude='checkpoint-*' --exclude='tokenizer*' -C $WS runs 2>/dev/null
cat "$STEPS"
echo "total: $(now) s"
