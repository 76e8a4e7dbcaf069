"""Builds a tiny, randomly initialised Qwen2-VL entirely offline: tokenizer, processor and model.

    python -m medtune_py.tiny_model --out DIR [--seed N] [--hidden N] [--layers N] [--heads N] [--kv-heads N]
        [--intermediate N] [--vision-embed N] [--vision-depth N] [--vision-heads N] [--vocab N]

The result has the real Qwen2-VL architecture, special tokens, chat template and preprocessor values, so it
exercises every code path of LLaMA-Factory's `qwen2_vl` template (train, export, generate) without the Hub.

Default sizes, and why: text hidden 64 with 4 heads / 2 KV heads (head_dim 16, M-RoPE section [2, 3, 3]),
FFN 256, 2 layers; ViT embed 32, depth 3, 4 heads; ~1,000-token vocabulary: 289k parameters, 1.2 MB.
The ViT has 3 blocks, not 2, because llama.cpp's converter maps the projector's `merger.mlp.2` through the block
table, which only has as many entries as the ViT has blocks: with 2 the GGUF export (`export --gguf`) fails.
Measured on the 2-core dev machine (LLaMA-Factory 0.9.5, LoRA rank 8 on every LLM linear, frozen ViT, lr 5e-3,
batch 2, 112x112 images = 16 image tokens, 204 synthetic scans of 6 modalities, 10 epochs = 1,020 steps; loss is
the mean of steps 1-50 -> 951-1000; bench/results/tiny-model.md):
  hidden 64 (default)               train loop 28 s, loss 2.93 -> 0.60, held-out modality named 55/60
  hidden 32, FFN 64 (ref. recipe)   train loop 19 s, loss 4.89 -> 2.52, held-out 40/60
  hidden 128, FFN 512, ViT 64       train loop 36 s, loss 1.96 -> 0.24, held-out 55/60 (3.2x the bytes)
so 64 is the smallest width that learns the task; larger buys a lower loss for more time and disk.

Embeddings: the LLM's embedding matrix is tied to the output head and LoRA never trains it. With the stock
init (std 0.02) every logit is bounded by |h|·|e| ≈ sqrt(64)·0.16 ≈ 1.3, so the model can rank the right
token first but never make it likely: in the run above it went 5.96 -> 5.66 (ln(vocab) ≈ 6.9) while greedy
answers were as right (55/60). A loss curve that does not fall makes a useless demo and hides real regressions,
so the embeddings are drawn with std 1/sqrt(hidden) (|e| ≈ 1), which lifts the bound to ≈ 8.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from . import protocol

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL-2B-Instruct's chat_template.json value (identical across 2B/7B), so prompts render exactly as
# for the real model and as LLaMA-Factory's `qwen2_vl` template renders them.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen2-VL's preprocessor_config.json values (OpenAI-CLIP mean/std, 28-px factor).
PREPROCESSOR = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}

MODALITIES_EN = [
    ("CT", "computed tomography (CT) scan"),
    ("MRI", "magnetic resonance imaging (MRI) scan"),
    ("X-ray", "X-ray radiograph"),
    ("ultrasound", "ultrasound image"),
    ("pathology", "histopathology slide stained with H&E"),
    ("endoscopy", "endoscopy image"),
    ("dermoscopy", "dermoscopy image of a skin lesion"),
    ("fundus", "fundus photograph of the retina"),
    ("PET", "positron emission tomography (PET) scan"),
    ("microscopy", "microscopy image"),
]
REGIONS_EN = ["brain", "chest", "lung", "abdomen", "liver", "kidney", "heart", "pelvis", "spine", "breast",
              "knee", "head", "neck", "colon", "stomach", "skin", "eye", "bone", "prostate", "thyroid"]
FINDINGS_EN = [
    "a lesion with altered density", "a hemorrhage", "a mass with irregular margins", "a nodule",
    "an area of edema", "a fracture", "a tumor", "an opacity", "normal anatomy without abnormality",
    "a cyst", "inflammation", "calcification", "an effusion", "a hematoma causing mass effect",
]
QUESTIONS_EN = [
    "Describe this medical image.",
    "What is the modality of this image?",
    "What type of medical image is this?",
    "Which organ is shown in the image?",
    "What abnormality can be seen in the region of interest?",
    "Is there any lesion in this image?",
    "What is the diagnosis?",
    "Where is the region of interest located?",
]
MODALITIES_ZH = ["CT", "MRI", "X光", "超声", "病理", "内镜", "皮肤镜", "眼底", "PET", "显微镜"]
REGIONS_ZH = ["脑部", "胸部", "肺部", "腹部", "肝脏", "肾脏", "心脏", "盆腔", "脊柱", "乳腺", "膝关节", "头部",
              "颈部", "结肠", "胃", "皮肤", "眼睛", "骨骼", "前列腺", "甲状腺"]
FINDINGS_ZH = ["病变", "出血", "肿块", "结节", "水肿", "骨折", "肿瘤", "阴影", "未见明显异常", "囊肿", "炎症",
               "钙化", "积液", "血肿"]
QUESTIONS_ZH = [
    "图片中的诊断结果是怎样?",
    "请描述这张医学图像。",
    "这是什么类型的医学影像?",
    "图中显示的是哪个器官?",
    "感兴趣区域有什么异常?",
    "这张图像中有病灶吗?",
]


def corpus() -> list[str]:
    """A deterministic medical corpus (English + Chinese) so that the words medtune's data uses are few tokens."""
    # Prompts and chat roles recur in every sample, so they are weighted up to become single tokens.
    lines: list[str] = (QUESTIONS_EN + QUESTIONS_ZH) * 4
    lines += ["system\nYou are a helpful assistant.", "user\n", "assistant\n"] * 8
    for i, (short, long) in enumerate(MODALITIES_EN):
        for j, region in enumerate(REGIONS_EN):
            finding = FINDINGS_EN[(i + j) % len(FINDINGS_EN)]
            lines.append(f"The image is a {long} of the {region}, showing {finding}.")
            lines.append(f"This is a {short} image of the {region}.")
            lines.append(f"The region of interest, located in the {region}, exhibits {finding}.")
            lines.append(f"{short} {region} {finding}")
    for i, modality in enumerate(MODALITIES_ZH):
        for j, region in enumerate(REGIONS_ZH):
            finding = FINDINGS_ZH[(i * 3 + j) % len(FINDINGS_ZH)]
            lines.append(f"这是一张{region}的{modality}图像,显示{finding}。")
            lines.append(f"图片中的诊断结果是{region}{finding}。")
    lines += [
        "The image shows the left and right side, upper and lower part, center and periphery.",
        "No medical devices are present. The surrounding tissue appears normal.",
        "The abnormality may suggest a relationship with the surrounding structures.",
        "0 1 2 3 4 5 6 7 8 9 10 100 2024 mm cm",
    ]
    return lines


def build_tokenizer(vocab_size: int):
    """Byte-level BPE trained on corpus() with Qwen2's pre-tokenizer; the 14 specials follow the BPE ids as in Qwen."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus(), trainer=trainer)
    # The trained merges are only reachable through the serialised model.
    trained = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(trained["vocab"])
    merges = [tuple(m) for m in trained["merges"]]
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    # Qwen2Tokenizer wraps the vocab in Qwen2's exact pre-tokenizer, NFC normaliser and byte-level decoder.
    return Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        errors="replace",
        model_max_length=32768,
        split_special_tokens=False,
        extra_special_tokens=SPECIAL_TOKENS[1:],
    )


def build_processor(tokenizer):
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(**PREPROCESSOR)
    # Qwen2VLProcessor refuses video_processor=None, and LLaMA-Factory's qwen2_vl plugin requires one too.
    video_processor = Qwen2VLVideoProcessor(
        patch_size=PREPROCESSOR["patch_size"],
        temporal_patch_size=PREPROCESSOR["temporal_patch_size"],
        merge_size=PREPROCESSOR["merge_size"],
        image_mean=PREPROCESSOR["image_mean"],
        image_std=PREPROCESSOR["image_std"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                            video_processor=video_processor, chat_template=CHAT_TEMPLATE)


def build_config(tokenizer, sizes: argparse.Namespace):
    from transformers import Qwen2VLConfig

    head_dim = sizes.hidden // sizes.heads
    # M-RoPE splits head_dim/2 rotary frequencies over (time, height, width) in Qwen's 1:1.5:1.5 ratio (16/24/24).
    half = head_dim // 2
    mrope = [half // 4, half * 3 // 8, 0]
    mrope[2] = half - mrope[0] - mrope[1]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": sizes.hidden,
            "intermediate_size": sizes.intermediate,
            "num_hidden_layers": sizes.layers,
            "num_attention_heads": sizes.heads,
            "num_key_value_heads": sizes.kv_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 32768,
            "max_window_layers": sizes.layers,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": mrope},
            "tie_word_embeddings": True,
            "use_sliding_window": False,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": sizes.vision_depth,
            "embed_dim": sizes.vision_embed,
            # The merger projects ViT features to the LLM width; Qwen2VLVisionConfig defaults it to 7B's 3584.
            "hidden_size": sizes.hidden,
            "num_heads": sizes.vision_heads,
            "mlp_ratio": 4,
            "in_channels": 3,
            "patch_size": PREPROCESSOR["patch_size"],
            "spatial_merge_size": PREPROCESSOR["merge_size"],
            "temporal_patch_size": PREPROCESSOR["temporal_patch_size"],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        vision_token_id=ids["<|vision_pad|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
    )


def check_sizes(sizes: argparse.Namespace) -> None:
    head_dim = sizes.hidden // sizes.heads
    # M-RoPE needs three non-empty sections of head_dim/2, and grouped attention whole groups.
    if sizes.hidden % sizes.heads or head_dim % 4 or head_dim < 8 or sizes.heads % sizes.kv_heads:
        protocol.fail("BAD_SIZES", f"hidden {sizes.hidden} / heads {sizes.heads} / kv-heads {sizes.kv_heads} do not fit: "
                      "hidden/heads must be a multiple of 4 and at least 8, heads a multiple of kv-heads",
                      "pick e.g. --hidden 64 --heads 4 --kv-heads 2")
    if sizes.vision_embed % sizes.vision_heads or (sizes.vision_embed // sizes.vision_heads) % 4:
        protocol.fail("BAD_SIZES", f"vision embed {sizes.vision_embed} / heads {sizes.vision_heads} do not fit: "
                      "vision-embed/vision-heads must be a multiple of 4", "pick e.g. --vision-embed 32 --vision-heads 4")


def build_model(config, seed: int):
    import torch
    from transformers import GenerationConfig, Qwen2VLForConditionalGeneration

    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32)
    with torch.no_grad():
        embeddings = model.get_input_embeddings().weight
        embeddings.normal_(mean=0.0, std=config.text_config.hidden_size ** -0.5,
                           generator=torch.Generator().manual_seed(seed + 1))
    eos, pad = config.text_config.eos_token_id, config.text_config.pad_token_id
    # Qwen2-VL-Instruct's generation_config: both end tokens stop, near-greedy sampling.
    model.generation_config = GenerationConfig(
        bos_token_id=pad, pad_token_id=pad, eos_token_id=[eos, pad],
        do_sample=True, top_k=1, top_p=0.001, temperature=0.01,
    )
    model.eval()
    return model


def dir_listing(path: Path) -> list[dict]:
    files = []
    for f in sorted(path.rglob("*")):
        if f.is_file():
            files.append({"name": f.relative_to(path).as_posix(), "bytes": f.stat().st_size,
                          "sha256": hashlib.sha256(f.read_bytes()).hexdigest()})
    return files


def replace_dir(tmp: Path, out: Path) -> None:
    """Moves a fully written tmp dir into place; a crash leaves either the old model or the new one, never half."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="medtune_py.tiny_model", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder to write the model into (replaced if it exists)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=64, help="LLM hidden size")
    p.add_argument("--intermediate", type=int, default=256, help="LLM FFN size")
    p.add_argument("--layers", type=int, default=2, help="LLM layers")
    p.add_argument("--heads", type=int, default=4, help="LLM attention heads")
    p.add_argument("--kv-heads", type=int, default=2, help="LLM key/value heads")
    p.add_argument("--vision-embed", type=int, default=32, help="ViT width")
    p.add_argument("--vision-depth", type=int, default=3, help="ViT blocks (at least 3 for a GGUF export)")
    p.add_argument("--vision-heads", type=int, default=4, help="ViT heads")
    p.add_argument("--vocab", type=int, default=2000, help="BPE vocabulary budget (the corpus may yield fewer)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    check_sizes(args)
    started = time.monotonic()
    out = Path(args.out).resolve()
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        protocol.progress("import", 0, 4, message="loading transformers", force=True)
        import torch

        torch.use_deterministic_algorithms(True)
        protocol.progress("tokenizer", 1, 4, message="training a byte-level BPE tokenizer", force=True)
        tokenizer = build_tokenizer(args.vocab)
        protocol.progress("processor", 2, 4, message="building the Qwen2-VL processor", force=True)
        processor = build_processor(tokenizer)
        protocol.progress("model", 3, 4, message="initialising the model", force=True)
        config = build_config(tokenizer, args)
        model = build_model(config, args.seed)
        tmp.mkdir(parents=True)
        processor.save_pretrained(tmp)
        model.save_pretrained(tmp)
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    params = sum(p.numel() for p in model.parameters())
    files = dir_listing(out)
    protocol.progress("done", 4, 4, force=True)
    protocol.result(
        dir=str(out),
        params=params,
        bytes=sum(f["bytes"] for f in files),
        files=files,
        vocab=len(tokenizer),
        sizes={k: getattr(args, k) for k in ("hidden", "intermediate", "layers", "heads", "kv_heads",
                                              "vision_embed", "vision_depth", "vision_heads")},
        seed=args.seed,
        seconds=round(time.monotonic() - started, 2),
    )
    return 0


if __name__ == "__main__":
    protocol.run(main)
