#!/usr/bin/env bash
# The speed levers of the GPU profiles in one GPU call (results: bench/results/gpu-train.md, gpu-train.json). From the repo root:
#   wheels -> 2B-architecture model (GPU) while the CPU makes the data and times preprocessing variants
#   (bench/gpu/preprocess.py) -> one `llamafactory-cli train` per entry of bench/gpu/levers.json (runner.py).
# Environment: OUT, WHL (wheel folder, default .gpucarry/whl), MT_BUDGET_S (seconds by which the last run ends),
#   VARIANTS (default bench/gpu/levers.json; bench/gpu/levers3.json holds the third lever set), ROWS (synthetic scans,
#   2000), PREPROCESS (0 skips the preprocessing timer), PROFILE=1 (first, a torch-profiler run of gpu-80g's steady
#   steps 9-11 from bench/gpu/profile.json: $OUT/profile-breakdown.json by bench/gpu/trace_breakdown.py, with GPU
#   idle, loader waits, launches, optimizer, the vision tower's forward; the trace itself as $OUT/profile-trace.json.gz).
set -uo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
OUT=${OUT:-/tmp/mtout}; WS=/tmp/mtws; WHL=${WHL:-.gpucarry/whl}
mkdir -p "$OUT" "$WS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  $(ls "$WHL"/*.whl | grep -v -e jieba -e nltk -e rouge -e zstandard) || exit 1
export PYTHONPATH=$PWD/python:/tmp/site PATH=/tmp/site/bin:$PATH
echo "wheels: $(( $(date +%s) - started )) s"
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc;
  python3 -c "import torch,transformers,peft,liger_kernel,importlib.metadata as m;print(torch.__version__,transformers.__version__,peft.__version__,m.version('liger-kernel'))"; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
python3 bench/gpu-train/build_model.py --out "$WS/models/qwen2vl-2b-arch" --preset 2b --vocab-size 151936 > "$WS/model.json" 2> "$WS/model.err" &
model_pid=$!
python3 -m medtune_py.sample_set --out "$WS/src512" --rows ${ROWS:-2000} --shards 8 --size 512 --format jpeg | tail -n 1 | cut -c1-160
python3 -m medtune_py.data_prepare --data-dir "$WS/data" --name medtrinity512 --source "$WS/src512" --val-ratio 0 \
  --templates templates/questions --cache "$WS/cache" | tail -n 1 | cut -c1-160
cp bench/gpu-train/dataset_info.json "$WS/data/dataset_info.json"
echo "data: $(( $(date +%s) - started )) s"
if [ "${PREPROCESS:-1}" = 1 ]; then
# Preprocessing: tokenizer/processor files only (config-only model), while the GPU builds the real one.
python3 bench/gpu-train/build_model.py --out "$WS/models/cfg" --preset 2b --vocab-size 151936 --config-only > /dev/null 2>&1
P="bench/gpu-train/configs/gpu-80g.yaml model_name_or_path=$WS/models/cfg"
{
  MT_PROFILE=60 python3 bench/gpu/preprocess.py $P 2> "$OUT/preprocess-profile.txt" >/dev/null
  timeout 100 python3 bench/gpu/preprocess.py $P preprocessing_num_workers=16 max_samples=480
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false timeout 100 python3 bench/gpu/preprocess.py $P preprocessing_num_workers=16
  timeout 60 python3 bench/gpu/preprocess.py $P preprocessing_num_workers=1 max_samples=160
} 2>"$WS/preprocess.err" | grep '^{' | tee "$OUT/preprocess.jsonl"
tail -n 5 "$WS/preprocess.err"
echo "preprocess bench: $(( $(date +%s) - started )) s"
fi
wait "$model_pid" || { cat "$WS/model.err"; exit 1; }
echo "model: $(( $(date +%s) - started )) s"
if [ "${PROFILE:-0}" = 1 ]; then
  python3 bench/gpu-train/runner.py --configs bench/gpu-train/configs --variants bench/gpu/profile.json --work "$WS/profile-run" \
    --out "$OUT/profile-run" --cli "$(command -v llamafactory-cli)" --deadline $(( started + ${MT_BUDGET_S:-560} )) --min-run 45
  trace=$(ls -S "$WS"/profile/rank_0/*.json 2>/dev/null | head -1)
  if [ -n "$trace" ]; then
    python3 bench/gpu/trace_breakdown.py "$trace" --stderr "$WS/profile-run/80g-profile/stderr.log" > "$OUT/profile-breakdown.json"
    gzip -c "$trace" > "$OUT/profile-trace.json.gz"
    [ "$(stat -c %s "$OUT/profile-trace.json.gz")" -lt 15000000 ] || rm "$OUT/profile-trace.json.gz"
  fi
  echo "profile: $(( $(date +%s) - started )) s"
fi
python3 bench/gpu-train/runner.py --configs bench/gpu-train/configs --variants ${VARIANTS:-bench/gpu/levers.json} --work "$WS/bench" \
  --out "$OUT" --cli "$(command -v llamafactory-cli)" --deadline $(( started + ${MT_BUDGET_S:-560} )) --min-run 45
tar -czf "$OUT/runs.tar.gz" -C "$WS" bench model.err preprocess.err
echo "total: $(( $(date +%s) - started )) s"
