"""The reference workflow's conversion (the manual MedTrinity-to-sharegpt script medtune replaces), re-created for benchmarking.

    python reference.py SOURCE_DIR OUTPUT_DIR CACHE_DIR

Same method as the tutorial: `load_dataset` (here from local parquet instead of the Hub, so no network), iterate
the split (each image decoded to PIL), `image.save(f"{output_dir}/{id}.jpg")` (re-encoded as JPEG), every row kept
in one list in memory, one `json.dump` at the end, one fixed Chinese prompt. Only the data source differs.
"""
import glob
import json
import os
import sys

from datasets import load_dataset


def save_images_and_json(ds, output_dir):
    if not os.path.exists(output_dir):
        os.makedirs(output_dir)
    all_data = []
    for item in ds:
        img_path = f"{output_dir}/{item['id']}.jpg"
        image = item["image"]
        image.save(img_path)
        all_data.append(
            {
                "messages": [
                    {"content": "<image>图片中的诊断结果是怎样?", "role": "user"},
                    {"content": item["caption"], "role": "assistant"},
                ],
                "images": [img_path],
            }
        )
    with open(f"{output_dir}/mllm_data.json", "w", encoding="utf-8") as f:
        json.dump(all_data, f, ensure_ascii=False)


if __name__ == "__main__":
    source, output, cache = sys.argv[1:4]
    ds = load_dataset("parquet", data_files=sorted(glob.glob(os.path.join(source, "*.parquet"))), cache_dir=cache)
    save_images_and_json(ds["train"], output)
