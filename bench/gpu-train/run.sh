#!/usr/bin/env bash
# The GPU train bench in one call of a GPU machine (results: bench/results/gpu-train.md), from the repo root:
#   wheels (.whl/, if there) -> the 2B-architecture model on the GPU, while the CPU makes the data ->
#   one `llamafactory-cli train` per profile (bench/gpu-train/configs, written by plan.mjs) -> $OUT.
# Environment: OUT (results; default /tmp/mtout), MT_WS (/tmp/mtws: the paths the committed configs name),
#   MT_PRESET (2b, or tiny for a CPU check), MT_VOCAB (151936; 0 = the tokenizer's own), MT_PROFILES,
#   MT_BUDGET_S (seconds from the start by which the last run must end), MT_SET (space-separated KEY=VALUE
#   overrides, CPU checks only), MT_PY and MT_CLI (interpreter and llamafactory-cli; default: those of the wheels).
set -uo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
OUT=${OUT:-/tmp/mtout}
WS=${MT_WS:-/tmp/mtws}
PY=${MT_PY:-python3}
PROFILES=${MT_PROFILES:-gpu-80g,gpu-40g,gpu-24g}
mkdir -p "$OUT" "$WS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if [ -z "${MT_PY:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
CLI=${MT_CLI:-$(command -v llamafactory-cli)}
echo "wheels installed: $(( $(date +%s) - started )) s"

{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current --format=csv 2>&1
  uname -r
  "$PY" - <<'EOF'
import importlib.metadata as md, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("torch", "torchvision", "transformers", "tokenizers", "datasets", "accelerate", "peft", "trl",
             "llamafactory", "huggingface-hub", "flash-attn", "liger-kernel"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "-")
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
  nproc
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

"$PY" bench/gpu-train/build_model.py --out "$WS/models/qwen2vl-2b-arch" --preset "${MT_PRESET:-2b}" \
  --vocab-size "${MT_VOCAB:-151936}" > "$WS/model.json" 2> "$WS/model.err" &
model_pid=$!

rm -rf "$WS/src512" "$WS/data"
"$PY" -m medtune_py.sample_set --out "$WS/src512" --rows 640 --shards 4 --size 512 --format jpeg | tail -n 1 | cut -c1-200
"$PY" -m medtune_py.data_prepare --data-dir "$WS/data" --name medtrinity512 --source "$WS/src512" --val-ratio 0 \
  --templates templates/questions --cache "$WS/cache" | tail -n 1 | cut -c1-200
# What `medtune data prepare` registers for this dataset (dataset_info.json is the caller's job).
cp bench/gpu-train/dataset_info.json "$WS/data/dataset_info.json"
echo "data ready: $(( $(date +%s) - started )) s"

wait "$model_pid" || { cat "$WS/model.err"; exit 1; }
cat "$WS/model.json"
echo "model ready: $(( $(date +%s) - started )) s"

sets=()
for kv in ${MT_SET:-}; do sets+=(--set "$kv"); done
"$PY" bench/gpu-train/runner.py --configs bench/gpu-train/configs --profiles "$PROFILES" --work "$WS/bench" \
  --out "$OUT" --cli "$CLI" --deadline $(( started + ${MT_BUDGET_S:-520} )) "${sets[@]}"
cp "$WS/model.json" "$OUT/model.json"
tar -czf "$OUT/runs.tar.gz" -C "$WS" bench model.err
echo "total: $(( $(date +%s) - started )) s"
