"""BLEU-4 and ROUGE-1/2/L exactly as LLaMA-Factory's predict path defines them, per sample.

    python -m medtune_py.metrics --pairs FILE.jsonl

FILE holds one {"predict": …, "label": …} object per line (LLaMA-Factory's generated_predictions.jsonl works as
it is). The result event carries per-sample scores and their means, so `medtune eval` can show which answers
scored and `medtune compare` can score answers LLaMA-Factory never saw.

Definitions (llamafactory/train/sft/metric.py, ComputeSimilarity, v0.9.5):
- BLEU-4: nltk `sentence_bleu` of the prediction's characters against the label's characters, smoothing
  method3, × 100;
- ROUGE-1/2/L: `rouge_chinese` F-scores of the jieba-segmented texts (tokens joined by spaces), × 100; 0 when
  either side has no tokens.
Each score is rounded to 4 decimals before averaging, as LLaMA-Factory does.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from . import protocol

KEYS = ("bleu-4", "rouge-1", "rouge-2", "rouge-l")


def _jieba():
    import jieba

    # jieba announces building its dictionary on every first use.
    jieba.setLogLevel(logging.WARNING)
    return jieba


def bleu4(prediction: str, reference: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    if not prediction:
        # nltk returns 0 for an empty hypothesis too, but warns on every call.
        return 0.0
    value = sentence_bleu([list(reference)], list(prediction), smoothing_function=SmoothingFunction().method3)
    return round(float(value) * 100, 4)


def rouge(prediction: str, reference: str) -> dict[str, float]:
    from rouge_chinese import Rouge

    jieba = _jieba()
    hyp = " ".join(jieba.cut(prediction))
    ref = " ".join(jieba.cut(reference))
    if not hyp.split() or not ref.split():
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    scores = Rouge().get_scores(hyp, ref)[0]
    return {k: round(float(scores[k]["f"]) * 100, 4) for k in ("rouge-1", "rouge-2", "rouge-l")}


def score(prediction: str, reference: str) -> dict[str, float]:
    return {"bleu-4": bleu4(prediction, reference), **rouge(prediction, reference)}


def mean(samples: list[dict[str, float]]) -> dict[str, float] | None:
    if not samples:
        return None
    return {k: sum(s[k] for s in samples) / len(samples) for k in KEYS}


def read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            protocol.fail("BAD_PAIRS", f"{path}:{n} is not JSON: {err}", "pass LLaMA-Factory's generated_predictions.jsonl")
        pairs.append((str(row.get("predict", "")), str(row.get("label", ""))))
    return pairs


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="medtune_py.metrics", description=__doc__.split("\n")[0])
    p.add_argument("--pairs", required=True, help="jsonl of {predict, label}")
    args = p.parse_args(argv)
    pairs = read_pairs(Path(args.pairs))
    samples = []
    for i, (pred, label) in enumerate(pairs):
        samples.append(score(pred, label))
        protocol.progress("scoring", i + 1, len(pairs), unit="samples")
    protocol.result(samples=samples, mean=mean(samples), count=len(samples))
    return 0


if __name__ == "__main__":
    protocol.run(main)
