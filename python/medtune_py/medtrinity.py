"""MedTrinity-25M row rules shared by the converter, the checker and the sample set.

Pure functions (no files, no processes): the modality named by a caption, caption neutralisation, safe file
names from untrusted ids, the deterministic train/val split and question choice, and the image gate that decides
whether encoded bytes can be copied as they are or must be converted.
"""
from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .hostile_guard import aspect_problem, scrub_text

MODALITIES = ("CT", "MRI", "X-ray", "ultrasound", "pathology", "endoscopy", "dermoscopy", "fundus", "PET", "other")

# First match wins, so the order matters: PET/CT captions name PET first; "MR" must not match "MRI" twice.
_MODALITY_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("PET", re.compile(r"\bpet\b|positron emission", re.I)),
    ("CT", re.compile(r"\bct\b|computed tomograph|\bcta\b", re.I)),
    ("MRI", re.compile(r"\bmri\b|\bmr\b|magnetic resonance|\bt1\b|\bt2\b|\bflair\b|t1-weighted|t2-weighted", re.I)),
    ("X-ray", re.compile(r"x-ray|x ray|\bxray\b|radiograph|chest film|mammogra", re.I)),
    ("ultrasound", re.compile(r"ultrasound|ultrasonograph|sonograph|echocardiog|doppler", re.I)),
    ("endoscopy", re.compile(r"endoscop|colonoscop|gastroscop|laparoscop", re.I)),
    ("dermoscopy", re.compile(r"dermoscop|dermatoscop|skin lesion", re.I)),
    ("fundus", re.compile(r"fundus|retina|optical coherence|\boct\b", re.I)),
    ("pathology", re.compile(r"histopatholog|histolog|patholog|h&e|hematoxylin|\bstain|microscop|whole.slide|cytolog", re.I)),
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def first_sentence(caption: str) -> str:
    return _SENTENCE_END.split(caption.strip(), maxsplit=1)[0]


def detect_modality(caption: str) -> str:
    """The imaging modality named in the caption's first sentence ("The image is a CT scan of …")."""
    head = first_sentence(caption)
    for name, pattern in _MODALITY_RULES:
        if pattern.search(head):
            return name
    return "other"


# 25M_full names each row's source dataset; for single-modality sources that settles the modality when the
# caption's first sentence does not (mixed sources such as pmc_oa are left to the caption).
SOURCE_MODALITY = {
    "deeplesion": "CT", "uls23": "CT", "flare23": "CT", "kipa22_kits23_cervix": "CT", "ct_rate": "CT", "bhx": "CT",
    "brats": "MRI", "brats24": "MRI", "brats_24": "MRI", "mama-mia": "MRI", "ispy": "MRI",
    "chexpert": "X-ray", "nih_chest": "X-ray", "padchest": "X-ray", "cr_rate": "X-ray",
    "nct-crc-he-100k": "pathology", "breast_histo": "pathology", "quilt_1m": "pathology", "quilt_llava": "pathology",
    "tcga": "pathology", "ptcga": "pathology", "ihc4bc": "pathology",
}


def modality_of(caption: str, source: str | None = None) -> str:
    found = detect_modality(caption)
    if found == "other" and source:
        return SOURCE_MODALITY.get(source.strip().lower(), "other")
    return found


def parse_modalities(spec: str | None) -> frozenset[str] | None:
    """`--modality ct,mri` → {"CT", "MRI"}; case-insensitive, with the usual aliases."""
    if not spec:
        return None
    aliases = {m.lower(): m for m in MODALITIES}
    aliases.update({"xray": "X-ray", "x ray": "X-ray", "mr": "MRI", "us": "ultrasound", "histopathology": "pathology",
                    "path": "pathology", "endo": "endoscopy", "derm": "dermoscopy", "retina": "fundus"})
    out = set()
    for raw in spec.split(","):
        key = raw.strip().lower()
        if not key:
            continue
        if key not in aliases:
            raise ValueError(f"unknown modality {raw.strip()!r}; choose from {', '.join(MODALITIES)}")
        out.add(aliases[key])
    return frozenset(out) or None


# LLaMA-Factory counts these exact strings as media placeholders; Qwen2-VL's tokenizer turns `<|…|>` into
# special tokens (a stray `<|image_pad|>` or `<|im_end|>` in a caption breaks the prompt). Both are defused by
# swapping the angle brackets for square ones, which keeps the text readable.
_PLACEHOLDER = re.compile(r"<(image|video|audio)>", re.I)
_SPECIAL = re.compile(r"<\|([^|<>]{0,40})\|>")


def neutralise(text: str) -> tuple[str, bool]:
    """Caption text with media placeholders and chat special tokens defused; True when something changed."""
    out = scrub_text(text)
    out = _PLACEHOLDER.sub(lambda m: f"[{m.group(1)}]", out)
    out = _SPECIAL.sub(lambda m: f"[{m.group(1)}]", out).strip()
    return out, out != text.strip()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
STEM_MAX = 80


def id_digest(row_id: str) -> str:
    return hashlib.sha256(row_id.encode("utf-8", "surrogatepass")).hexdigest()


def safe_stem(row_id: str) -> str:
    """A file name stem for an untrusted id: ASCII letters, digits, `._-` only, never starting with a dot,
    at most STEM_MAX + 13 characters, and ending in a hash of the full id so distinct ids never collide."""
    ascii_id = unicodedata.normalize("NFKD", row_id).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("_", ascii_id).strip("._-")[:STEM_MAX].rstrip("._-")
    return f"{stem or 'row'}-{id_digest(row_id)[:12]}"


def split_of(row_id: str, val_ratio: float) -> str:
    """'val' for a stable val_ratio share of ids, independent of order, workers and limit."""
    if val_ratio <= 0:
        return "train"
    bucket = int(id_digest(row_id)[:16], 16) / 2**64
    return "val" if bucket < val_ratio else "train"


def load_questions(path: Path) -> list[str]:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    questions = [ln for ln in lines if ln and not ln.startswith("#")]
    bad = [q for q in questions if _PLACEHOLDER.search(q) or _SPECIAL.search(q)]
    if bad:
        raise ValueError(f"{path}: question templates must not contain placeholders: {bad[0]!r}")
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions


def question_for(row_id: str, lang: str, pools: dict[str, list[str]]) -> str:
    """A question picked from the template pool by a hash of the id (so reruns give the same dataset)."""
    h = int(id_digest(row_id)[16:32], 16)
    if lang == "mixed":
        lang = "zh" if h & 1 else "en"
        h >>= 1
    pool = pools[lang]
    return pool[h % len(pool)]


# ---------------------------------------------------------------------------------------------------------
# Images

DEFAULT_MAX_PIXELS = 4096 * 4096

# Encoded bytes in these formats and modes load in LLaMA-Factory (PIL open + convert("RGB")) exactly as the source
# meant them, so they are copied untouched. Everything else is converted once here, where we can do it right.
_COPY_MODES = {"JPEG": {"L", "RGB"}, "MPO": {"L", "RGB"}, "PNG": {"1", "L", "RGB", "P"}}
_EXT = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png"}


@dataclass(frozen=True)
class ImageOutcome:
    ok: bool
    reason: str = ""
    data: bytes = b""
    ext: str = ""
    converted: bool = False
    size: tuple[int, int] = (0, 0)


def _to_8bit(im: Image.Image) -> Image.Image:
    """16/32-bit and float greyscale → 8-bit by min–max scaling (PIL's own convert clips, giving white images)."""
    import numpy as np

    arr = np.asarray(im, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
    return Image.fromarray(scaled.round().astype("uint8"), mode="L")


def _flatten(im: Image.Image) -> Image.Image:
    """Any mode → RGB or L; transparency composited onto black (the background of most scans)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _to_8bit(im)
    if im.mode in ("L", "RGB"):
        return im
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return im.convert("RGB")


def inspect_image(data: bytes | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageOutcome:
    """Decides what to store for one image: the bytes as they are, converted bytes, or a skip reason."""
    if not data:
        return ImageOutcome(False, "empty_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        return ImageOutcome(False, "image_too_large")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return ImageOutcome(False, "corrupt_image")
    w, h = im.size
    if w < 1 or h < 1:
        return ImageOutcome(False, "corrupt_image")
    if w * h > max_pixels:
        # Checked on the header alone, before a single pixel is decoded: this is what stops decompression bombs.
        return ImageOutcome(False, "image_too_large", size=(w, h))
    if aspect_problem(w, h):
        return ImageOutcome(False, "extreme_aspect_ratio", size=(w, h))
    fmt = im.format or ""
    copy = im.mode in _COPY_MODES.get(fmt, ()) and not (im.mode == "P" and "transparency" in im.info)
    try:
        if copy and fmt in ("JPEG", "MPO"):
            # Decoding at 1/8 scale still entropy-decodes every scan, so truncation and corruption surface,
            # at a fraction of a full decode's cost.
            im.draft(im.mode, (max(1, w // 8), max(1, h // 8)))
        im.load()
        if copy:
            return ImageOutcome(True, data=data, ext=_EXT[fmt], size=(w, h))
        flat = _flatten(im.convert("RGB") if im.mode == "CMYK" else im)
        out = io.BytesIO()
        if fmt == "JPEG":
            # Re-encoding a lossy source as PNG would bloat it without restoring anything.
            flat.save(out, "JPEG", quality=95)
            ext = ".jpg"
        else:
            flat.save(out, "PNG", optimize=False, compress_level=3)
            ext = ".png"
        return ImageOutcome(True, data=out.getvalue(), ext=ext, converted=True, size=(w, h))
    except Image.DecompressionBombError:
        return ImageOutcome(False, "image_too_large", size=(w, h))
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as err:
        return ImageOutcome(False, "truncated_image" if "truncated" in str(err).lower() else "corrupt_image", size=(w, h))
