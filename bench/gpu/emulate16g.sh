#!/usr/bin/env bash
# A 16 GB consumer card emulated on an H100/H200, measured through medtune's CLI only: the reference
# (profile gpu-24g, the blog's settings) and gpu-16g one after the other in one sitting, under CUDA MPS's active
# thread percentage (a share of the SMs) and the 15 GiB allocator cap (bench/gpu/sitecustomize).
# Carried like bench/gpu/e2e.sh (bench/gpu/stage.sh: node.xz, bundle.tar.xz, whl.tar.xz, bench/). From repo/:
#   OUT=$OUT MT_BUDGET_S=560 timeout 590 bash bench/gpu/emulate16g.sh
# Environment: TARGET_TFLOPS (the card to emulate, default 104.4 = RTX 4080 SUPER), MPS_PCT (skip the arithmetic),
# STEPS (optimizer steps per run, 12), PROFILES ("gpu-24g gpu-16g"), EXTRA_PCT (a second share to run the reference
# at, e.g. the earlier 52/790 figure: 7), DRY=1 (print the plan and exit: no GPU needed).
#
# The arithmetic (dense BF16 tensor throughput, FP32 accumulation, as torch's bf16 matmuls run):
#   RTX 4080 SUPER: 80 SMs x 2.55 GHz x 512 FLOP/clk/SM = 104.4 TFLOP/s (GeForce Ada accumulates BF16 in FP32 at half
#                   its FP16-accumulate rate). The earlier "52" is its FP32 shader rate, 80 x 128 x 2 x 2.55 GHz.
#   H100 SXM / H200: 132 SMs x 1.83 GHz x 4096 FLOP/clk/SM = 989.4 TFLOP/s, 7.5 per SM.  H100 PCIe: 114 SMs, 756.5.
#   share = 104.4 / 989.4 = 10.6% -> MPS_PCT 11 (MPS gives whole SMs: 11% of 132 = 14.5 -> 14 or 15 SMs).
#   The earlier 52 / 790 (an H100 rate measured before) = 6.6% -> 7: a card half as fast as a real 4080 SUPER.
# The check on the emulation: the reference should run near the blog's 3.85 samples/s (161,630 x 3 in 35 h).
# Not scaled (so the emulation is optimistic wherever a kernel is bound by memory, not math): memory bandwidth
# (H100 3.35 TB/s, H200 4.8, the 4080 SUPER 0.74), the SM clock (the H100's, not 2.55 GHz), L2 (50 MB vs 64 MB), the
# host CPU, PCIe. The 15 GiB cap stands for 16 GB less the CUDA context and the desktop.
#
# Every step's result goes to $OUT as it ends: steps.tsv, emulate16g.log, and one line per run in runs.jsonl (the
# summary row bench/gpu/results.py reads, written by bench/gpu/steady.py). The MPS daemon is stopped on any exit.
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD; CARRY=$(dirname "$REPO")
started=$(date +%s); OUT=${OUT:-/tmp/emuout}; BUDGET=${MT_BUDGET_S:-560}
T=/tmp/mt; WS=$T/ws; mkdir -p "$OUT" "$T/bin" "$WS"
LOG=$OUT/emulate16g.log; STEPS=$OUT/steps.tsv

host_name=$( (nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null || echo "${HOST_GPU:-NVIDIA H100 80GB HBM3}") | head -1)
pct=$(python3 - "$host_name" "${TARGET_TFLOPS:-104.4}" "${MPS_PCT:-}" <<'PY'
import math, sys
name, target, forced = sys.argv[1], float(sys.argv[2]), sys.argv[3]
peaks = [("H100 PCIe", 756.5), ("H100 NVL", 835.5), ("H200 NVL", 835.5), ("H200", 989.4), ("H100", 989.4)]
peak = next((p for k, p in peaks if k in name), None)
if forced:
    print(forced)
elif peak is None:
    sys.exit(f"no dense BF16 peak known for {name!r}: pass MPS_PCT")
else:
    print(math.ceil(100 * target / peak))
PY
) || exit 2
echo "host ${host_name}: emulating ${TARGET_TFLOPS:-104.4} TFLOP/s with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$pct${EXTRA_PCT:+ (and the reference at $EXTRA_PCT)}" | tee -a "$LOG"
if [ "${DRY:-0}" = 1 ]; then exit 0; fi

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

export CUDA_MPS_PIPE_DIRECTORY=$T/mps-pipe CUDA_MPS_LOG_DIRECTORY=$T/mps-log
mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
stop_mps() { echo quit | nvidia-cuda-mps-control >/dev/null 2>&1; kill "${smi:-}" 2>/dev/null; }
trap stop_mps EXIT

nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu,power.draw --format=csv,noheader,nounits -lms 500 > "$OUT/smi.csv" 2>/dev/null &
smi=$!
step unpack bash -c "xz -dc '$CARRY/node.xz' > $T/bin/node && chmod +x $T/bin/node && tar -xJf '$CARRY/bundle.tar.xz' -C $T && tar -xJf '$CARRY/whl.tar.xz' -C $T"
export PATH=$T/bin:$PATH PYTHONUNBUFFERED=1 MEDTUNE_CACHE=$T/cache MEDTUNE_PYTHON=$(command -v python3)
MT() { node $T/bundle/bin/medtune.js -w "$WS" "$@"; }
( PYTHONPATH=$T/bundle/python python3 -m medtune_py.sample_set --out $T/src --rows 1000 --shards 8 --size 512 --format jpeg > $T/sample.log 2>&1 ) &
gen=$!
step setup MT setup --system-torch --wheels $T/whlstored --json
VPY=$(ls -d $T/cache/venv-*-system 2>/dev/null | head -1)/bin/python
( PYTHONPATH=$T/bundle/python $VPY bench/gpu-train/build_model.py --out $WS/models/qwen2vl-2b-arch --preset 2b --vocab-size 151936 > $T/model.log 2>&1 ) &
model=$!
wait $gen
step data-prepare MT data prepare --source $T/src --name scans --val-ratio 0 --json
wait $model || { tail -n 5 $T/model.log >> "$LOG"; exit 1; }

# MPS: the daemon hands each new CUDA client this share of the SMs. Set before any client starts.
step mps-start nvidia-cuda-mps-control -d || exit 1
# The trainer gets the 15 GiB cap through sitecustomize on its PYTHONPATH (the supervisor passes the environment on).
export MT_MEM_CAP_GIB=15 PYTHONPATH=$REPO/bench/gpu/sitecustomize${PYTHONPATH:+:$PYTHONPATH}

measure() { # measure LABEL PROFILE PCT REFERENCE
  local label=$1 profile=$2 p=$3 ref=$4
  left 90 || { echo "$label: skipped, $(( started + BUDGET - $(date +%s) )) s left" | tee -a "$LOG"; return 0; }
  echo "set_default_active_thread_percentage $p" | nvidia-cuda-mps-control >> "$LOG" 2>&1
  export CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$p
  step "train-$label" MT train -m $WS/models/qwen2vl-2b-arch -d scans -p "$profile" --name "$label" \
    --set max_steps=${STEPS:-12} --set logging_steps=2 --set save_steps=1000 --detach --json || return 1
  local rid; rid=$(ls -t $WS/runs | head -1)
  python3 bench/gpu/stamp.py "$WS/runs/$rid/output/trainer_log.jsonl" "$T/$label.stamps.jsonl" &
  local stamper=$!
  step "attach-$label" timeout $(( started + BUDGET - $(date +%s) - 20 )) node $T/bundle/bin/medtune.js -w "$WS" attach "$rid" --json
  kill $stamper 2>/dev/null; wait $stamper 2>/dev/null
  python3 bench/gpu/steady.py --stamps "$T/$label.stamps.jsonl" --run "$WS/runs/$rid" --smi "$OUT/smi.csv" \
    --label "$label" --profile "$profile" --mps-pct "$p" --cap-gib 15 --gpu "$host_name" $([ "$ref" = 1 ] && echo --reference) \
    | tee -a "$OUT/runs.jsonl"
}

for profile in ${PROFILES:-gpu-24g gpu-16g}; do
  measure "emu$pct-$profile" "$profile" "$pct" "$([ "$profile" = gpu-24g ] && echo 1 || echo 0)"
done
[ -n "${EXTRA_PCT:-}" ] && measure "emu$EXTRA_PCT-gpu-24g" gpu-24g "$EXTRA_PCT" 1
echo "total: $(now) s" | tee -a "$LOG"
