#!/usr/bin/env bash
# Benchmark: the first full view of a never-seen 10^6-record trainer log through each face, Node's start included:
# `status --json`, `attach` (time to its first stdout line), `runs`, and the TUI in tmux (first frame; the run's row
# with its full step count; the monitor after Enter). The summary cache is emptied before every measurement.
# Usage: npm run build && bash bench/attach/faces.sh [RECORDS=1000000] [REPEAT=3]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
n="${1:-1000000}"
repeat="${2:-3}"
work="$(mktemp -d /tmp/medtune-faces-XXXXXX)"
trap 'tmux kill-session -t medtune-faces 2>/dev/null || true; rm -rf "$work"' EXIT
ws="$work/ws"
run="$ws/runs/big"
mkdir -p "$run/output"
node "$root/bench/attach/make-log.mjs" "$n" "$run/output/trainer_log.jsonl"
now="$(date -u +%Y-%m-%dT%H:%M:%S.000Z)"
cat > "$run/run.json" <<EOF
{"id": "big", "kind": "train", "createdAt": "$now", "updatedAt": "$now", "status": "completed", "model": "$ws/models/m",
 "datasets": ["d"], "profile": "cpu", "outputDir": "$run/output", "trainYaml": "$run/train.yaml",
 "command": ["llamafactory-cli", "train", "$run/train.yaml"], "env": {}, "cwd": "$ws",
 "attempts": [{"n": 1, "startedAt": "$now", "endedAt": "$now", "exitCode": 0, "signal": null, "startStep": 0}],
 "autoResume": 0}
EOF
echo "output_dir: $run/output" > "$run/train.yaml"
export MEDTUNE_CACHE="$work/cache"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
medtune=(node "$root/bin/medtune.js" -w "$ws")
total="$n/$n"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; node $(node --version); $(date -u +%FT%TZ); $n records, $(du -m "$run/output/trainer_log.jsonl" | cut -f1) MiB"
for i in $(seq "$repeat"); do
  rm -rf "$MEDTUNE_CACHE"; t=$(date +%s%N); "${medtune[@]}" status big --json > /dev/null; status=$(ms "$t")
  rm -rf "$MEDTUNE_CACHE"; t=$(date +%s%N); "${medtune[@]}" attach big 2> /dev/null | head -1 > /dev/null; attach=$(ms "$t")
  rm -rf "$MEDTUNE_CACHE"; t=$(date +%s%N); "${medtune[@]}" runs > /dev/null; runs=$(ms "$t")
  rm -rf "$MEDTUNE_CACHE"
  tmux kill-session -t medtune-faces 2>/dev/null || true
  t=$(date +%s%N)
  tmux new-session -d -s medtune-faces -x 100 -y 30 "MEDTUNE_CACHE=$MEDTUNE_CACHE ${medtune[*]}"
  first=0; row=0
  for _ in $(seq 3000); do
    s="$(tmux capture-pane -pt medtune-faces)"
    [ "$first" = 0 ] && grep -q '1 Home' <<< "$s" && first=$(ms "$t")
    grep -q "$total" <<< "$s" && { row=$(ms "$t"); break; }
    sleep 0.01
  done
  t=$(date +%s%N); tmux send-keys -t medtune-faces Enter
  for _ in $(seq 3000); do tmux capture-pane -pt medtune-faces | grep -q 'Loss' && break; sleep 0.01; done
  monitor=$(ms "$t")
  tmux kill-session -t medtune-faces
  echo "run $i: status --json ${status} ms; attach first line ${attach} ms; runs ${runs} ms; TUI first frame ${first} ms, run row ${row} ms, monitor after Enter ${monitor} ms"
done
