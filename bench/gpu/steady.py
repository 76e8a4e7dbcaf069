"""One summary row (bench/gpu-train/runner.py's shape) for a run medtune launched, from bench/gpu/stamp.py's stamps.

    python3 bench/gpu/steady.py --stamps S.jsonl --run WS/runs/ID --smi smi.csv --label NAME --profile gpu-24g \
        [--reference] [--mps-pct 11] [--cap-gib 15] [--gpu "NVIDIA H100 80GB HBM3"]

Steady window: from the first logged step to the last (CUDA warm-up and loader start left out), samples/s =
steps x batch x GA / seconds. Prints the row as one JSON line.
"""
import argparse
import importlib.util
import json
from pathlib import Path

import yaml

spec = importlib.util.spec_from_file_location("runner", Path(__file__).resolve().parent.parent / "gpu-train" / "runner.py")
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k in ("--stamps", "--run", "--smi", "--label", "--profile"):
        ap.add_argument(k, required=True)
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--mps-pct", type=float)
    ap.add_argument("--cap-gib", type=float)
    ap.add_argument("--gpu")
    a = ap.parse_args()
    cfg = yaml.safe_load((Path(a.run) / "train.yaml").read_text())
    bs, ga = int(cfg["per_device_train_batch_size"]), int(cfg.get("gradient_accumulation_steps", 1))
    stamps = [json.loads(x) for x in Path(a.stamps).read_text().splitlines()] if Path(a.stamps).is_file() else []
    logs = [(s["t"], s["record"]) for s in stamps if "loss" in s["record"] and "current_steps" in s["record"]]
    row = {"profile": a.label, "medtune_profile": a.profile, "reference": a.reference, "gpu": a.gpu, "mps_pct": a.mps_pct,
           "cap_gib": a.cap_gib, "batch": bs, "grad_accum": ga, "grad_ckpt": not cfg.get("disable_gradient_checkpointing", False),
           "loader_workers": cfg.get("dataloader_num_workers", 0), "levers": [], "env": {}, "log_lines": len(logs)}
    if logs:
        last = logs[-1][1]
        row["steps_done"] = last["current_steps"]
        row["vram_reserved_gib"] = max(d.get("vram_reserved", 0) for _, d in logs) or None
        row["vram_allocated_gib"] = max(d.get("vram_allocated", 0) for _, d in logs) or None
        if last.get("total_tokens"):
            row["tokens_per_sample"] = round(last["total_tokens"] / (last["current_steps"] * bs * ga), 1)
    if len(logs) >= 3:
        (ta, da), (tb, db) = logs[0], logs[-1]
        row["steady_window"] = {"from_step": da["current_steps"], "to_step": db["current_steps"], "seconds": round(tb - ta, 2)}
        row["steady_samples_s"] = round((db["current_steps"] - da["current_steps"]) * bs * ga / (tb - ta), 2)
        smi = runner.read_smi(Path(a.smi), ta, tb)
        if smi:
            row["smi_steady"] = {"util_pct": runner._mean(r[2] for r in smi), "power_w": runner._mean(r[3] for r in smi)}
            used = [r[1] for r in smi if r[1] is not None]
            row["smi_peak_used_mib"] = max(used) if used else None
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
