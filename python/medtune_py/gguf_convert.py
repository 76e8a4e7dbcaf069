"""Converts a merged Qwen2-VL folder to GGUF with llama.cpp's own converter: the language model and the mmproj.

    python -m medtune_py.gguf_convert --llama-src DIR --model DIR --out-model FILE --out-mmproj FILE

The converter is llama.cpp's `convert_hf_to_gguf.py` from medtune's pinned llama.cpp source, run in this process
with two narrow fixes for folders the pinned converter misreads (both only widen what it accepts):

- Tensor names. transformers 5 saves Qwen2-VL's vision tower as `model.visual.*`; the pinned converter's Qwen2-VL
  projector reads only `visual.*` (its Qwen3-VL class already maps both), so the mmproj would come out empty.
- Pre-tokenizer. The converter names a tokenizer's pre-tokenizer by hashing the ids it gives a test string, which
  depends on the vocabulary. A vocabulary it has not seen (medtune's tiny model) with exactly Qwen2's pre-tokenizer
  (tokenizer.json: NFC, Qwen2's split regex, byte-level) is Qwen2's; anything else still fails as upstream does.

Progress goes to stdout as NDJSON; the converter's own log goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import runpy
import sys
import time
from pathlib import Path

from . import protocol

QWEN2_SPLIT = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)


def has_qwen2_pretokenizer(model: Path) -> bool:
    try:
        tok = json.loads((model / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    pre = tok.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if not steps or len(steps) != 2:
        return False
    split, byte_level = steps
    return (
        (tok.get("normalizer") or {}).get("type") == "NFC"
        and split.get("type") == "Split"
        and (split.get("pattern") or {}).get("Regex") == QWEN2_SPLIT
        and byte_level.get("type") == "ByteLevel"
        and byte_level.get("use_regex") is False
    )


def patch_converter(src: Path, model: Path) -> None:
    sys.path.insert(0, str(src))
    sys.path.insert(1, str(src / "gguf-py"))
    from conversion import base, qwenvl  # type: ignore[import-not-found]  # llama.cpp's, from --llama-src

    known_pre = base.TextModel.get_vocab_base_pre
    qwen2_pre = has_qwen2_pretokenizer(model)

    def get_vocab_base_pre(self, tokenizer):  # type: ignore[no-untyped-def]
        try:
            return known_pre(self, tokenizer)
        except NotImplementedError:
            if qwen2_pre:
                return "qwen2"
            raise

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre

    vision_filter = qwenvl.Qwen2VLVisionModel.filter_tensors.__func__

    def filter_tensors(cls, item):  # type: ignore[no-untyped-def]
        name, gen = item
        if name.startswith("model.visual."):
            name = name[len("model."):]
        return vision_filter(cls, (name, gen))

    qwenvl.Qwen2VLVisionModel.filter_tensors = classmethod(filter_tensors)


def convert(script: Path, argv: list[str]) -> None:
    sys.argv = [str(script), *argv]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            protocol.fail("GGUF_CONVERT_FAILED", f"llama.cpp's converter exited with code {exit_.code}",
                          "its log (stderr) says why")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gguf_convert")
    p.add_argument("--llama-src", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--out-model", required=True)
    p.add_argument("--out-mmproj", required=True)
    args = p.parse_args(argv)
    src, model = Path(args.llama_src), Path(args.model)
    script = src / "convert_hf_to_gguf.py"
    if not script.is_file():
        protocol.fail("LLAMA_CPP_MISSING", f"{script} does not exist", "run `medtune setup --gguf`")
    patch_converter(src, model)
    out: list[dict[str, object]] = []
    for i, (what, extra, target) in enumerate(
        [("language model", [], args.out_model), ("vision projector (mmproj)", ["--mmproj"], args.out_mmproj)]
    ):
        protocol.progress(f"converting the {what}", i, 2, force=True)
        started = time.monotonic()
        convert(script, [str(model), "--outtype", "f16", "--outfile", target, *extra])
        size = Path(target).stat().st_size
        out.append({"file": target, "bytes": size, "seconds": round(time.monotonic() - started, 2)})
    protocol.progress("converted", 2, 2, force=True)
    protocol.result(files=out)
    return 0


if __name__ == "__main__":
    protocol.run(main)
