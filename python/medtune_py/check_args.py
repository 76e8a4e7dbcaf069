"""Validates a train or export YAML with LLaMA-Factory's own argument parser, without training.

Usage: python -m medtune_py.check_args --mode train|export --yaml FILE
Result: {"ok": true, "mode": ..., "resolved": {a few resolved values}}; an error event names what the parser rejected.
"""
from __future__ import annotations

import argparse
import os
import re

import yaml

from . import protocol


def _explain(message: str) -> str | None:
    """What to change for the parser errors users meet most."""
    if "Some keys are not used by the HfArgumentParser" in message:
        keys = re.findall(r"'([^']+)'", message)
        return (f"remove or rename {', '.join(keys) or 'the unknown keys'}: LLaMA-Factory 0.9.5 does not know them "
                "(its keys: `llamafactory-cli train -h` in the venv)")
    if "FP16 Mixed precision" in message or "bf16" in message.lower() and "device" in message.lower():
        return "this machine has no GPU: drop fp16/bf16 (use --profile cpu)"
    if "pure_bf16" in message:
        return "pure_bf16 needs a GPU with bf16; use --profile cpu on this machine"
    if "Please specify dataset" in message:
        return "pass --dataset NAME (see `medtune data list`)"
    if "Output directory already exists" in message:
        return "start a new run, or `medtune resume RUN` to continue this one"
    return None


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["train", "export"], required=True)
    ap.add_argument("--yaml", required=True)
    ap.add_argument("--label", help="how to name the config in messages (the file may be a scratch copy)")
    ap.add_argument("--cpu-check", action="store_true",
                    help="drop bf16/fp16 before parsing: checks a GPU config on a machine without a GPU")
    args = ap.parse_args(argv)
    label = args.label or args.yaml

    with open(args.yaml, encoding="utf-8") as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        protocol.fail("BAD_YAML", f"{label} is not a mapping of keys to values")
    dropped = [k for k in ("bf16", "fp16", "pure_bf16") if args.cpu_check and cfg.pop(k, None)]

    protocol.progress("importing LLaMA-Factory")
    # The check must not download anything or touch the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from llamafactory.hparams import get_infer_args, get_train_args  # noqa: PLC0415 - slow import, after arg parsing

    protocol.progress("parsing arguments")
    try:
        if args.mode == "train":
            model_args, data_args, training_args, finetuning_args, _ = get_train_args(dict(cfg))
            resolved = {
                "stage": finetuning_args.stage,
                "finetuning_type": finetuning_args.finetuning_type,
                "template": data_args.template,
                "dataset": data_args.dataset,
                "output_dir": training_args.output_dir,
                "resume_from_checkpoint": training_args.resume_from_checkpoint,
                "per_device_train_batch_size": training_args.per_device_train_batch_size,
                "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
                "save_total_limit": training_args.save_total_limit,
                "bf16": bool(training_args.bf16),
                "compute_dtype": str(model_args.compute_dtype),
            }
        else:
            model_args, data_args, finetuning_args, _ = get_infer_args(dict(cfg))
            resolved = {
                "model_name_or_path": model_args.model_name_or_path,
                "adapter_name_or_path": model_args.adapter_name_or_path,
                "export_dir": model_args.export_dir,
                "template": data_args.template,
            }
    except (ValueError, TypeError, ImportError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        protocol.fail("INVALID_ARGS", f"LLaMA-Factory rejects the {args.mode} config: {message}",
                      next=_explain(str(err)) or f"fix {label} (or the --set overrides) and try again")
    protocol.result(ok=True, mode=args.mode, resolved=resolved, droppedForCpuCheck=dropped)
    return 0


if __name__ == "__main__":
    protocol.run(main)
