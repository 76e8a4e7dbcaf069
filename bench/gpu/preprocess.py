"""Times LLaMA-Factory's "Running tokenizer on dataset" alone (no model, no GPU), for one train YAML.

    python3 bench/gpu/preprocess.py CONFIG.yaml [KEY=VALUE ...]   -> one JSON line on stdout

Runs exactly what `llamafactory-cli train` runs before loading the model (load_tokenizer,
get_template_and_fix_tokenizer, get_dataset with stage sft), with `overwrite_cache: true` so the datasets cache
never answers. The caller varies the environment (thread counts) and the overrides (workers, batch size, samples)
one at a time. With MT_PROFILE=N it profiles N samples in this process instead (cProfile, top 25 by cumulative time,
on stderr).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import yaml


def main() -> int:
    cfg = yaml.safe_load(Path(sys.argv[1]).read_text())
    for item in sys.argv[2:]:
        key, _, value = item.partition("=")
        cfg[key] = yaml.safe_load(value)
    cfg["overwrite_cache"] = True
    cfg.pop("tokenized_path", None)
    cfg["output_dir"] = cfg.get("output_dir", "/tmp/mt-preprocess") + "-preprocess"
    t0 = time.time()
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, _, _ = get_train_args(cfg)
    tok = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tok["tokenizer"], data_args)
    t1 = time.time()
    if os.environ.get("MT_PROFILE"):
        import cProfile
        import pstats

        data_args.preprocessing_num_workers = None
        data_args.max_samples = int(os.environ["MT_PROFILE"])
        prof = cProfile.Profile()
        prof.enable()
        get_dataset(template, model_args, data_args, training_args, stage="sft", **tok)
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        return 0
    module = get_dataset(template, model_args, data_args, training_args, stage="sft", **tok)
    t2 = time.time()
    n = len(module["train_dataset"])
    import torch

    print(json.dumps({
        "workers": data_args.preprocessing_num_workers, "batch": data_args.preprocessing_batch_size, "samples": n,
        "setup_s": round(t1 - t0, 2), "preprocess_s": round(t2 - t1, 2), "samples_per_s": round(n / (t2 - t1), 1),
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM")},
        "torch_threads_parent": torch.get_num_threads(), "cpus": os.cpu_count(),
    }), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
