"""Checks a registered dataset the way LLaMA-Factory will read it, before a long run trips over row 90,000.

    python -m medtune_py.data_check --data-dir WS/data --name NAME [--workers N] [--max-problems N]

NAME is a dataset_info.json entry; NAME_val is checked too when registered. Per row, as LLaMA-Factory's sharegpt
converter and multimodal plugin see it: valid JSON; messages a list of {role, content} with an optional leading
system turn, user/observation turns at odd and assistant/function turns at even positions, an even count;
`<image>`/`<video>`/`<audio>` placeholders as many as the row's images/videos/audios; every image found under
media_dir (= data dir) and decodable. The result lists bad rows by file and line; `ok` is false when any is bad.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from . import protocol
from .hostile_guard import MAX_ASPECT, MAX_CAPTION_CHARS, aspect_problem
from .medtrinity import DEFAULT_MAX_PIXELS

DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
PLACEHOLDERS = {"images": "<image>", "videos": "<video>", "audios": "<audio>"}


def _entry_files(data_dir: Path, entry: dict) -> list[Path]:
    path = data_dir / entry["file_name"]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    return [path]


Problem = tuple[str, str]  # (kind, detail): kinds are stable keys for counting, details are for people


def _rows(path: Path) -> Iterator[tuple[int, object, str | None]]:
    """(line number, parsed row or None, parse error) — json files count rows from 1 in array order."""
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            yield 0, None, f"file is not valid JSON: {err}"
            return
        if not isinstance(data, list):
            yield 0, None, "a .json dataset must hold a list of rows"
            return
        for i, row in enumerate(data, 1):
            yield i, row, None
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line), None
            except ValueError as err:
                yield i, None, f"invalid JSON: {err.msg}"


def check_row(row: object, entry: dict) -> tuple[list[Problem], list[str]]:
    """(problems, image paths) for one sharegpt row under an entry's columns and tags."""
    if not isinstance(row, dict):
        return [("row_type", "row is not a JSON object")], []
    cols = entry.get("columns", {})
    tags = {**DEFAULT_TAGS, **entry.get("tags", {})}
    msgs = row.get(cols.get("messages", "conversations"))
    problems: list[Problem] = []
    if not isinstance(msgs, list) or not msgs:
        return [("messages", "messages missing or empty")], []
    rt, ct = tags["role_tag"], tags["content_tag"]
    if any(not isinstance(m, dict) or rt not in m or ct not in m for m in msgs):
        return [("messages", f"every message needs {rt!r} and {ct!r}")], []
    texts = [m[ct] for m in msgs]
    if msgs[0][rt] == tags["system_tag"]:
        msgs = msgs[1:]
    odd = (tags["user_tag"], tags["observation_tag"])
    even = (tags["assistant_tag"], tags["function_tag"])
    for i, m in enumerate(msgs):
        if m[rt] not in (odd if i % 2 == 0 else even):
            problems.append(("role_order", f"invalid role {m[rt]!r} at turn {i + 1} "
                                           f"(expected {'/'.join(odd if i % 2 == 0 else even)})"))
            break
    if len(msgs) % 2:
        problems.append(("message_count", f"odd message count ({len(msgs)}): the last turn must be the assistant's"))
    if any(not isinstance(t, str) for t in texts):
        problems.append(("content_type", "message content is not a string"))
        texts = [t if isinstance(t, str) else "" for t in texts]
    elif msgs and msgs[-1][rt] in even and not msgs[-1][ct].strip():
        problems.append(("empty_answer", "empty assistant answer"))
    longest = max((len(t) for t in texts), default=0)
    if longest > MAX_CAPTION_CHARS:
        problems.append(("text_too_long", f"a message of {longest} characters (over {MAX_CAPTION_CHARS}): "
                                          "it would only be cut at cutoff_len after costing tokenisation time"))
    media: dict[str, list] = {}
    for kind, token in PLACEHOLDERS.items():
        col = cols.get(kind)
        value = row.get(col) if col else None
        items = [] if value is None else value if isinstance(value, list) else [value]
        media[kind] = items
        n = sum(t.count(token) for t in texts)
        if n != len(items):
            problems.append(("placeholder_count", f"{n} {token} placeholder(s) but {len(items)} {kind}"))
    images = media["images"]
    if any(not isinstance(p, str) for p in images):
        problems.append(("image_type", "image entries must be paths (strings)"))
        images = [p for p in images if isinstance(p, str)]
    return problems, images


def decode_problem(path: str, max_pixels: int) -> Problem | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
            w, h = im.size
            if w * h > max_pixels:
                return "image_too_large", f"image too large ({w}x{h}): {path}"
            if aspect_problem(w, h):
                return "extreme_aspect_ratio", (f"image of {w}x{h}: Qwen2-VL's processor rejects aspect ratios over "
                                                f"{MAX_ASPECT} and would end the run: {path}")
            if im.format == "JPEG":
                im.draft(im.mode if im.mode in ("L", "RGB") else "RGB", (max(1, w // 8), max(1, h // 8)))
            im.load()
    except Exception as err:  # noqa: BLE001 - PIL raises many types for broken files; all mean "does not decode"
        return "image_decode", f"image does not decode ({type(err).__name__}: {err}): {path}"
    return None


def _decode_batch(batch: list[tuple[str, str, int, str]], max_pixels: int) -> list[tuple[str, str, int, Problem]]:
    return [(e, f, ln, p) for e, f, ln, path in batch if (p := decode_problem(path, max_pixels))]


def _resolve(data_dir: Path, p: str) -> tuple[str | None, Problem | None]:
    """Where LLaMA-Factory will find the image (join with media_dir, else the path as given), or a problem."""
    joined = data_dir / p
    if joined.is_file():
        return str(joined), None
    if os.path.isabs(p) and os.path.isfile(p):
        return p, None
    if os.path.isfile(p):
        return None, ("image_outside_data_dir", f"image {p} is not under the data folder "
                                                "(it only resolves from the current directory)")
    return None, ("image_missing", f"image not found: {p}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m medtune_py.data_check")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--max-problems", type=int, default=100)
    ap.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    a = ap.parse_args(argv)
    data_dir = Path(a.data_dir).resolve()
    info_path = data_dir / "dataset_info.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        protocol.fail("NO_DATASET_INFO", f"{info_path} does not exist", next="prepare a dataset: medtune data prepare")
    except ValueError as err:
        protocol.fail("BAD_DATASET_INFO", f"{info_path} is not valid JSON: {err}")
    names = [n for n in (a.name, f"{a.name}_val") if n in info]
    if not names:
        protocol.fail("UNKNOWN_DATASET", f"{a.name} is not registered in {info_path}",
                      next=f"registered: {', '.join(sorted(info)) or 'none'}")

    problems: list[dict] = []
    by_problem: Counter[str] = Counter()
    bad_rows: set[tuple[str, int]] = set()
    summary = []
    rows_total = 0
    workers = a.workers if a.workers > 0 else (os.cpu_count() or 1)

    def note(entry: str, file: str, line: int, problem: Problem) -> None:
        bad_rows.add((file, line))
        by_problem[problem[0]] += 1
        if len(problems) < a.max_problems:
            problems.append({"entry": entry, "file": file, "line": line, "kind": problem[0], "problem": problem[1]})

    pool = mp.get_context("spawn").Pool(workers) if workers > 1 else None
    pending: list = []
    batch: list[tuple[str, str, int, str]] = []

    def drain(limit: int) -> None:
        while len(pending) > limit:
            for e, f, ln, p in pending.pop(0).get():
                note(e, f, ln, p)

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        if pool is None:
            for e, f, ln, p in _decode_batch(batch, a.max_pixels):
                note(e, f, ln, p)
        else:
            pending.append(pool.apply_async(_decode_batch, (batch, a.max_pixels)))
            drain(workers * 2)
        batch = []

    try:
        for name in names:
            entry = info[name]
            if not isinstance(entry, dict) or "file_name" not in entry:
                summary.append({"entry": name, "checked": False, "why": "not a local file entry"})
                continue
            if entry.get("formatting", "alpaca") != "sharegpt":
                summary.append({"entry": name, "checked": False, "why": f"formatting {entry.get('formatting', 'alpaca')}"})
                continue
            files = _entry_files(data_dir, entry)
            entry_rows = 0
            for path in files:
                rel = str(path.relative_to(data_dir)) if path.is_relative_to(data_dir) else str(path)
                if not path.is_file():
                    note(name, rel, 0, ("file_missing", f"file not found: {rel}"))
                    continue
                read = 0
                for line, row, err in _rows(path):
                    read += 1
                    if line:
                        entry_rows += 1
                    if err:
                        note(name, rel, line, ("invalid_json", err))
                        continue
                    row_problems, images = check_row(row, entry)
                    for p in row_problems:
                        note(name, rel, line, p)
                    for img in images:
                        resolved, why = _resolve(data_dir, img)
                        if why:
                            note(name, rel, line, why)
                        else:
                            batch.append((name, rel, line, resolved))
                    if len(batch) >= 256:
                        flush()
                    if read % 500 == 0:
                        protocol.progress(f"checking {name}", read, None, unit="rows")
            flush()
            rows_total += entry_rows
            summary.append({"entry": name, "checked": True, "rows": entry_rows,
                            "files": [str(p.relative_to(data_dir)) if p.is_relative_to(data_dir) else str(p) for p in files]})
        drain(0)
    finally:
        if pool is not None:
            pool.close()
            pool.join()

    for s in summary:
        if s.get("checked"):
            s["bad_rows"] = sum(1 for f, _ in bad_rows if f in s["files"])
    problems.sort(key=lambda p: (p["file"], p["line"]))
    protocol.result(ok=not bad_rows, name=a.name, rows=rows_total, bad_rows=len(bad_rows), entries=summary,
                    by_problem=dict(by_problem.most_common()), problems=problems)
    return 0


if __name__ == "__main__":
    protocol.run(main)
