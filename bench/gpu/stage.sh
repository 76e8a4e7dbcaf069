#!/usr/bin/env bash
# Stages what bench/gpu/e2e.sh needs into a carry folder (default .gpucarry in the repository root, ignored by git):
# node.xz, bundle.tar.xz, whl.tar.xz (wheels re-zipped uncompressed so xz finds the redundancy: 43 -> 27 MB) and
# a copy of bench/. WHEELS: the folder of downloaded wheels (see bench/results/gpu-e2e.md for the list).
set -euo pipefail
cd "$(dirname "$0")/../.."
C=${1:-$PWD/.gpucarry}; WHEELS=${WHEELS:-$C/whl}
mkdir -p "$C/repo"
[ -f "$C/node.xz" ] || xz -9 -T2 < "$(command -v node)" > "$C/node.xz"
node scripts/bundle.mjs --out build/bundle --tar && cp build/bundle.tar.xz "$C/bundle.tar.xz"
if [ ! -f "$C/whl.tar.xz" ]; then
  rm -rf /tmp/whlstored && mkdir /tmp/whlstored
  python3 - "$WHEELS" /tmp/whlstored <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
for f in os.listdir(src):
    with zipfile.ZipFile(os.path.join(src, f)) as zi, zipfile.ZipFile(os.path.join(dst, f), "w", zipfile.ZIP_STORED) as zo:
        for info in zi.infolist():
            zo.writestr(info, zi.read(info.filename), compress_type=zipfile.ZIP_STORED)
PY
  tar -cf - -C /tmp whlstored | xz -9 -T2 > "$C/whl.tar.xz"
fi
rm -rf "$C/repo/bench" && mkdir -p "$C/repo/bench" && cp -r bench/gpu bench/gpu-train "$C/repo/bench/"
du -sh "$C"/*
