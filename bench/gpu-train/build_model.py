"""Builds a random-weight model with the exact Qwen2-VL-2B-Instruct architecture, offline, for GPU benchmarks.

    PYTHONPATH=python python bench/gpu-train/build_model.py --out DIR [--preset 2b|tiny] [--config-only]

The tokenizer, processor and config come from medtune's own offline builder (medtune_py.tiny_model) with the 2B
sizes (text hidden 1536, 28 layers, 12/2 heads, FFN 8960; ViT depth 32, embed 1280, 16 heads). That tokenizer is
a ~2k-token BPE trained on a medical corpus, not Qwen's, so the config's vocab_size is widened to Qwen's 151,936
afterwards: the embedding matrix and the tied 151,936-wide logits, which dominate activation memory at large
batches, then have the real size; the extra rows are simply never produced by the tokenizer.

Weights are drawn on the GPU in bf16 when there is one (2.2 B parameters: seconds there, minutes on a CPU) and
saved as bf16 safetensors (~4.4 GB), as the published checkpoint is. --config-only writes the processor and
config.json alone (no weights), which is all `medtune train --dry-run` reads.
Prints one JSON line: parameter counts and seconds.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from medtune_py import tiny_model

QWEN2_VOCAB = 151936
PRESETS = {
    # Qwen2-VL-2B-Instruct's config.json values (from the model's Hub repository).
    "2b": dict(hidden=1536, intermediate=8960, layers=28, heads=12, kv_heads=2,
               vision_embed=1280, vision_depth=32, vision_heads=16),
    # medtune's test model, for checking this script and the bench on a CPU.
    "tiny": dict(hidden=64, intermediate=256, layers=2, heads=4, kv_heads=2,
                 vision_embed=32, vision_depth=2, vision_heads=4),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="2b")
    ap.add_argument("--vocab-size", type=int, default=QWEN2_VOCAB,
                    help="config vocab_size (logits width); 0 keeps the tokenizer's own size")
    ap.add_argument("--config-only", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    started = time.monotonic()

    import torch
    from transformers import GenerationConfig, Qwen2VLForConditionalGeneration

    sizes = argparse.Namespace(**PRESETS[a.preset], vocab=2000)
    tiny_model.check_sizes(sizes)
    tokenizer = tiny_model.build_tokenizer(sizes.vocab)
    processor = tiny_model.build_processor(tokenizer)
    config = tiny_model.build_config(tokenizer, sizes)
    vocab_size = a.vocab_size or len(tokenizer)
    if vocab_size < len(tokenizer):
        sys.exit(f"--vocab-size {vocab_size} is below the tokenizer's {len(tokenizer)} tokens")
    config.text_config.vocab_size = vocab_size

    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    processor.save_pretrained(out)
    info: dict[str, object] = {"preset": a.preset, "tokenizer_tokens": len(tokenizer), "vocab_size": vocab_size}
    if a.config_only:
        config.save_pretrained(out)
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(a.seed)
        with torch.device(device):
            model = Qwen2VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
        eos, pad = config.text_config.eos_token_id, config.text_config.pad_token_id
        model.generation_config = GenerationConfig(bos_token_id=pad, pad_token_id=pad, eos_token_id=[eos, pad])
        model.save_pretrained(out)
        vision = sum(p.numel() for n, p in model.named_parameters() if ".visual." in n or n.startswith("visual."))
        info.update(device=device, params=sum(p.numel() for p in model.parameters()), vision_params=vision,
                    bytes=sum(f.stat().st_size for f in out.iterdir()))
        del model
    info["seconds"] = round(time.monotonic() - started, 1)
    # medtune_py.protocol moved sys.stdout to stderr on import; the result line goes to the real stdout.
    sys.__stdout__.write(json.dumps(info) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
