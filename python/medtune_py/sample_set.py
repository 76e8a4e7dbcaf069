"""Writes an offline stand-in for MedTrinity-25M: synthetic scans in the dataset's exact parquet schema.

    python -m medtune_py.sample_set --out DIR [--rows 240] [--shards 3] [--size 112] [--seed 0]
        [--layout demo|full] [--row-group-size 100]

Layout `demo` (like the Hub's 25M_demo config): `train-0000K-of-0000N.parquet` with `image` as
struct<bytes: binary, path: string> (the `datasets` Image feature, declared in the schema metadata so
`load_dataset("parquet", …)` decodes it), `id` (UUID-v1-like string) and `caption` (string).
Layout `full` (like 25M_full + 25M_accessible): `25M_full/train-*.parquet` with `file_name`, `caption`, `source`,
and the pixels in `25M_accessible/dataset_shard_K.tar.zst`, joined by file name; rows of one "restricted" source
have no pixels, as in the real release.

Each modality looks unmistakably different (CT: grey head with a bright skull ring; MRI: textured brain, dark rim,
bright fluid; X-ray: dark lungs crossed by ribs; ultrasound: speckled fan; pathology: pink tissue with purple
nuclei; endoscopy: red tunnel; dermoscopy: brown lesion on skin in a round field; fundus: orange disc with vessels)
and the finding the caption names is drawn where the caption says it is, so a tiny model can learn both.
Everything is a function of the seed: the same arguments give byte-identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import protocol

HF_FEATURES = {"image": {"_type": "Image"}, "id": {"dtype": "string", "_type": "Value"},
               "caption": {"dtype": "string", "_type": "Value"}}
FULL_FEATURES = {"file_name": {"dtype": "string", "_type": "Value"}, "caption": {"dtype": "string", "_type": "Value"},
                 "source": {"dtype": "string", "_type": "Value"}}

LOCATIONS = {
    "upper left": (-0.4, -0.4), "upper right": (0.4, -0.4), "lower left": (-0.4, 0.4), "lower right": (0.4, 0.4),
    "center": (0.0, 0.0),
}


@dataclass(frozen=True)
class Finding:
    key: str
    roi: str  # what the region of interest looks like
    meaning: str  # what it is indicative of


@dataclass(frozen=True)
class Modality:
    name: str
    phrase: str  # "non-contrast computed tomography (CT) scan"
    region: str
    overview: str
    tissue: str
    findings: tuple[Finding, ...]
    locations: tuple[str, ...]
    source: str  # a 25M_full-style source name
    fmt: str  # encoding in the parquet: JPEG or PNG
    draw: Callable[[np.random.Generator, int, str, tuple[float, float]], np.ndarray]


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size * 2 - 1
    return np.meshgrid(c, c)


def _disc(x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float, soft: float = 0.03) -> np.ndarray:
    d = np.hypot(x - cx, y - cy)
    return np.clip((r - d) / soft, 0, 1)


def _blend(img: np.ndarray, mask: np.ndarray, value: float | tuple[float, float, float]) -> np.ndarray:
    v = np.asarray(value, dtype=np.float64)
    m = mask[..., None] if img.ndim == 3 else mask
    return img * (1 - m) + v * m


def _offset(loc: tuple[float, float], scale: float, rng: np.random.Generator) -> tuple[float, float]:
    return loc[0] * scale + rng.uniform(-0.05, 0.05), loc[1] * scale + rng.uniform(-0.05, 0.05)


def _ct(rng: np.random.Generator, size: int, finding: str, loc: tuple[float, float]) -> np.ndarray:
    x, y = _grid(size)
    rr = np.hypot(x / 0.72, y / 0.86)
    img = np.zeros((size, size))
    img = _blend(img, np.clip((1.0 - rr) / 0.02, 0, 1), 105)
    img = _blend(img, np.clip((0.08 - np.abs(rr - 1.04)) / 0.02, 0, 1), 240)  # skull ring
    for sx in (-0.12, 0.12):
        img = _blend(img, np.clip((1 - np.hypot((x - sx) / 0.07, (y + 0.05) / 0.2)) / 0.15, 0, 1), 45)
    cx, cy = _offset(loc, 0.95, rng)
    if finding == "hemorrhage":
        img = _blend(img, _disc(x, y, cx, cy, 0.15), 195)
    else:
        img = _blend(img, _disc(x, y, cx, cy, 0.2, 0.05), 55)
    return img + rng.normal(0, 4, img.shape) * (rr < 1.1)


def _mri(rng: np.random.Generator, size: int, finding: str, loc: tuple[float, float]) -> np.ndarray:
    x, y = _grid(size)
    rr = np.hypot(x / 0.74, y / 0.88)
    theta = np.arctan2(y, x)
    texture = 135 + 35 * np.sin(22 * rr + 5 * np.sin(4 * theta)) + rng.normal(0, 9, x.shape)
    img = np.zeros((size, size))
    img = _blend(img, np.clip((1.0 - rr) / 0.02, 0, 1), 1) * texture
    img = _blend(img, np.clip((0.05 - np.abs(rr - 1.09)) / 0.02, 0, 1), 160)  # scalp: bright, skull: dark gap
    for sx in (-0.11, 0.11):
        img = _blend(img, np.clip((1 - np.hypot((x - sx) / 0.06, (y + 0.05) / 0.22)) / 0.15, 0, 1), 235)
    cx, cy = _offset(loc, 0.95, rng)
    if finding == "tumor":
        img = _blend(img, _disc(x, y, cx, cy, 0.2, 0.02), 20)
        img = _blend(img, _disc(x, y, cx, cy, 0.15, 0.02), 250)
    else:
        for _ in range(4):
            dx, dy = rng.uniform(-0.12, 0.12, 2)
            img = _blend(img, _disc(x, y, cx + dx, cy + dy, 0.045, 0.02), 250)
    return img


def _xray(rng: np.random.Generator, size: int, finding: str, loc: tuple[float, float]) -> np.ndarray:
    x, y = _grid(size)
    img = 175 - 25 * y + rng.normal(0, 3, x.shape)
    lungs = np.maximum(*[np.clip((1 - np.hypot((x - sx) / 0.32, (y + 0.02) / 0.66)) / 0.08, 0, 1) for sx in (-0.42, 0.42)])
    img = _blend(img, lungs, 45)
    for k in range(8):
        rib = np.clip((0.028 - np.abs(y - (-0.72 + 0.19 * k + 0.3 * x ** 2))) / 0.012, 0, 1) * (np.abs(x) > 0.1)
        img = _blend(img, rib * (lungs > 0.2) * 0.75, 165)
    img = _blend(img, np.clip((0.08 - np.abs(x)) / 0.02, 0, 1), 225)  # spine
    img = _blend(img, np.clip((1 - np.hypot((x - 0.12) / 0.26, (y - 0.3) / 0.24)) / 0.1, 0, 1), 205)  # heart
    cx, cy = loc[0] * 1.05 + rng.uniform(-0.04, 0.04), loc[1] * 0.9 + rng.uniform(-0.04, 0.04)
    if finding == "nodule":
        img = _blend(img, _disc(x, y, cx, cy, 0.07, 0.02), 215)
    else:
        img = _blend(img, _disc(x, y, cx, cy, 0.27, 0.15) * (lungs > 0.3), 150)
    return img


def _ultrasound(rng: np.random.Generator, size: int, finding: str, loc: tuple[float, float]) -> np.ndarray:
    x, y = _grid(size)
    dy = y + 1.1
    r = np.hypot(x, dy)
    ang = np.arctan2(x, dy)
    fan = ((np.abs(ang) < 0.62) & (r > 0.3) & (r < 2.0)).astype(np.float64)
    speckle = rng.rayleigh(1.0, x.shape)
    speckle = np.asarray(Image.fromarray(np.clip(speckle * 60, 0, 255).astype("uint8")).filter(ImageFilter.BoxBlur(0.6)), dtype=np.float64)
    img = speckle * (1.25 - 0.35 * r / 2.0) * fan
    cx, cy = loc[0] * 0.8 + rng.uniform(-0.04, 0.04), loc[1] * 0.6 + 0.25 + rng.uniform(-0.04, 0.04)
    if finding == "cyst":
        img = _blend(img, np.clip((0.3 - np.abs(x - cx)) / 0.05, 0, 1) * (y > cy) * (y < cy + 0.5) * fan * 0.5, 170)
        img = _blend(img, _disc(x, y, cx, cy, 0.15, 0.02), 3)
    else:
        img = _blend(img, _disc(x, y, cx, cy, 0.15, 0.03) * fan, 1) * 1 + _disc(x, y, cx, cy, 0.15, 0.03) * fan * (140 + 0.6 * speckle)
    return img


def _pathology(rng: np.random.Generator, size: int, finding: str, loc: tuple[float, float]) -> np.ndarray:
    x, y = _grid(size)
    img = np.empty((size, size, 3))
    img[:] = (238, 176, 204)
    img += rng.normal(0, 6, (size, size, 1))
    for _ in range(70):
        cx, cy = rng.uniform(-1, 1, 2)
        img = _blend(img, _disc(x, y, cx, cy, rng.uniform(0.03, 0.045), 0.02), (125, 60, 160))
    cx, cy = _offset(loc, 1.0, rng)
    if finding == "carcinoma":
        for _ in range(22):
            dx, dy = rng.uniform(-0.22, 0.22, 2)
            img = _blend(img, _disc(x, y, cx + dx, cy + dy, rng.uniform(0.05, 0.075), 0.02), (72, 20, 112))
    else:
        for _ in range(45):
            dx, dy = rng.uniform(-0.25, 0.25, 2)
            img = _blend(img, _disc(x, y, cx + dx, cy + dy, 0.025, 0.015), (45, 40, 140))
    return img


def _endoscopy(rng: np.random.Generator, size: int, finding: str, loc: tuple[float, float]) -> np.ndarray:
    x, y = _grid(size)
    lx, ly = rng.uniform(-0.1, 0.1, 2)
    r = np.hypot(x - lx, y - ly)
    t = np.clip(r / 0.75, 0, 1)[..., None]
    img = (1 - t) * np.array([35, 8, 8]) + t * np.array([205, 85, 70])
    img = img * (1 + 0.12 * np.sin(14 * r))[..., None]
    cx, cy = _offset(loc, 1.0, rng)
    if finding == "polyp":
        img = _blend(img, _disc(x, y, cx, cy, 0.17, 0.03), (232, 142, 130))
        img = _blend(img, _disc(x, y, cx - 0.05, cy - 0.05, 0.04, 0.02), (255, 245, 240))
    else:
        img = _blend(img, _disc(x, y, cx, cy, 0.2, 0.03), (190, 30, 30))
        img = _blend(img, _disc(x, y, cx, cy, 0.14, 0.04), (236, 222, 168))
    octagon = (np.abs(x) < 0.95) & (np.abs(y) < 0.95) & (np.abs(x) + np.abs(y) < 1.55)
    return img * octagon[..., None]


def _dermoscopy(rng: np.random.Generator, size: int, finding: str, loc: tuple[float, float]) -> np.ndarray:
    x, y = _grid(size)
    img = np.empty((size, size, 3))
    img[:] = (226, 186, 160)
    img += rng.normal(0, 5, (size, size, 1))
    cx, cy = _offset(loc, 0.7, rng)
    d = np.hypot(x - cx, y - cy)
    theta = np.arctan2(y - cy, x - cx)
    if finding == "nevus":
        img = _blend(img, np.clip((0.22 - d) / 0.04, 0, 1), (140, 92, 62))
    else:
        edge = 0.27 * (1 + 0.25 * np.sin(5 * theta + rng.uniform(0, 6)) + 0.12 * np.sin(9 * theta))
        img = _blend(img, np.clip((edge - d) / 0.02, 0, 1), (92, 52, 40))
        img = _blend(img, np.clip((0.1 - np.hypot(x - cx - 0.06, y - cy + 0.04)) / 0.03, 0, 1), (25, 18, 20))
        img = _blend(img, np.clip((0.08 - np.hypot(x - cx + 0.09, y - cy - 0.07)) / 0.03, 0, 1), (105, 115, 140))
    return img * (np.hypot(x, y) < 0.98)[..., None]


def _fundus(rng: np.random.Generator, size: int, finding: str, loc: tuple[float, float]) -> np.ndarray:
    x, y = _grid(size)
    r = np.hypot(x, y)
    img = np.empty((size, size, 3))
    img[:] = (205, 82, 36)
    img *= (1 - 0.35 * r ** 2)[..., None]
    canvas = Image.fromarray(np.clip(img, 0, 255).astype("uint8"))
    draw = ImageDraw.Draw(canvas)
    ox, oy = 0.55, rng.uniform(-0.05, 0.05)
    px = lambda u, v: ((u + 1) / 2 * size, (v + 1) / 2 * size)  # noqa: E731 - a local coordinate map
    for k in range(6):
        a = np.pi * (0.55 + k * 0.18) + rng.uniform(-0.05, 0.05)
        pts = [px(ox + s * np.cos(a) + 0.08 * s ** 2 * np.sin(3 * a), oy + s * np.sin(a)) for s in np.linspace(0, 1.3, 14)]
        draw.line(pts, fill=(120, 22, 18), width=max(1, size // 60))
    img = np.asarray(canvas, dtype=np.float64)
    img = _blend(img, _disc(x, y, ox, oy, 0.13, 0.03), (252, 226, 158))  # optic disc
    img = _blend(img, _disc(x, y, -0.1, 0.0, 0.12, 0.1) * 0.5, (110, 35, 15))  # macula
    cx, cy = _offset(loc, 0.8, rng)
    if cx > 0.35 and abs(cy) < 0.3:
        cx = 0.25  # keep the lesion off the optic disc
    for _ in range(6):
        dx, dy = rng.uniform(-0.15, 0.15, 2)
        colour = (95, 12, 8) if finding == "hemorrhage" else (246, 236, 118)
        img = _blend(img, _disc(x, y, cx + dx, cy + dy, 0.04 if finding == "hemorrhage" else 0.028, 0.015), colour)
    return img * (r < 0.95)[..., None]


_ALL_LOCS = tuple(LOCATIONS)
_SIDE_LOCS = ("upper left", "upper right", "lower left", "lower right")

MODALITY_SPECS: tuple[Modality, ...] = (
    Modality("CT", "non-contrast computed tomography (CT) scan", "brain",
             "showing the skull and the cerebral structures without any medical devices present", "brain tissue",
             (Finding("hemorrhage", "exhibits a bright, well-defined area of increased density",
                      "an acute intracerebral hemorrhage"),
              Finding("infarct", "exhibits a dark, ill-defined area of decreased density", "an ischemic infarct")),
             _ALL_LOCS, "deeplesion", "JPEG", _ct),
    Modality("MRI", "T2-weighted magnetic resonance imaging (MRI) scan", "brain",
             "showing the cerebral hemispheres with bright cerebrospinal fluid in the ventricles", "brain parenchyma",
             (Finding("tumor", "shows a bright round mass surrounded by a dark rim", "a brain tumor such as a glioma"),
              Finding("plaques", "shows several small bright oval spots", "demyelinating plaques of multiple sclerosis")),
             _ALL_LOCS, "brats", "JPEG", _mri),
    Modality("X-ray", "frontal X-ray radiograph", "chest",
             "showing both lungs, the ribs, the spine and the heart shadow", "lung",
             (Finding("nodule", "shows a small, round, dense opacity", "a pulmonary nodule"),
              Finding("consolidation", "shows a large, hazy area of increased opacity", "pneumonia with consolidation")),
             _SIDE_LOCS, "chexpert", "PNG", _xray),
    Modality("ultrasound", "ultrasound image", "liver",
             "showing the liver parenchyma in a fan-shaped field of view", "liver tissue",
             (Finding("cyst", "shows a round, dark anechoic area with bright posterior enhancement", "a simple hepatic cyst"),
              Finding("mass", "shows a round, bright hyperechoic mass", "a hemangioma or another solid mass")),
             _ALL_LOCS, "sammed", "JPEG", _ultrasound),
    Modality("pathology", "histopathology image with hematoxylin and eosin (H&E) stain", "colon tissue",
             "showing pink stroma with scattered purple cell nuclei", "tissue",
             (Finding("carcinoma", "shows a crowded cluster of large, dark-purple, irregular nuclei", "adenocarcinoma"),
              Finding("inflammation", "shows a dense infiltrate of small, dark-blue round cells", "chronic inflammation")),
             _ALL_LOCS, "NCT-CRC-HE-100K", "JPEG", _pathology),
    Modality("endoscopy", "endoscopy image", "colon",
             "showing the reddish mucosa around a dark lumen", "mucosa",
             (Finding("polyp", "shows a raised, round, pale-pink growth with a bright reflection", "a colonic polyp"),
              Finding("ulcer", "shows a flat whitish-yellow patch with a red rim", "an ulcer")),
             _SIDE_LOCS, "kvasir", "JPEG", _endoscopy),
    Modality("dermoscopy", "dermoscopy image", "skin",
             "showing a pigmented skin lesion in a round field of view", "skin",
             (Finding("nevus", "shows a symmetric, uniformly brown lesion with smooth borders", "a benign melanocytic nevus"),
              Finding("melanoma", "shows an asymmetric lesion with irregular borders and black and blue-grey areas",
                      "melanoma")),
             _ALL_LOCS, "isic", "JPEG", _dermoscopy),
    Modality("fundus", "color fundus photograph", "retina",
             "showing the optic disc, the macula and the retinal vessels", "retina",
             (Finding("hemorrhage", "shows scattered dark-red blot spots", "retinal hemorrhages of diabetic retinopathy"),
              Finding("exudates", "shows clusters of small bright-yellow deposits", "hard exudates")),
             ("upper left", "lower left", "center"), "idrid", "JPEG", _fundus),
)

RESTRICTED_SOURCE = "deeplesion"  # in the `full` layout its pixels are not shipped, as in the real release


def _place(loc: str) -> str:
    return "in the center" if loc == "center" else f"in the {loc}"


def caption_for(m: Modality, f: Finding, loc: str) -> str:
    article = "an" if m.phrase[0] in "aeiou" else "a"
    return (f"The image is {article} {m.phrase} of the {m.region}, {m.overview}. The region of interest, located "
            f"{_place(loc)} of the image, {f.roi}, which is indicative of {f.meaning}. "
            f"This area is distinct from the surrounding {m.tissue}.")


def sample_id(seed: int, index: int) -> str:
    h = hashlib.sha256(f"medtune-sample:{seed}:{index}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-11ef-{0x8000 | (int(h[12:16], 16) & 0x3FFF):04x}-000066532cad"


@dataclass(frozen=True)
class SampleRow:
    id: str
    caption: str
    modality: str
    finding: str
    location: str
    source: str
    fmt: str


def plan_rows(rows: int, seed: int) -> list[SampleRow]:
    """Which modality, finding and location each row gets: modalities interleaved, the rest drawn by the seed."""
    rng = np.random.default_rng([seed, 1])
    out = []
    for i in range(rows):
        m = MODALITY_SPECS[i % len(MODALITY_SPECS)]
        f = m.findings[int(rng.integers(len(m.findings)))]
        loc = m.locations[int(rng.integers(len(m.locations)))]
        out.append(SampleRow(sample_id(seed, i), caption_for(m, f, loc), m.name, f.key, loc, m.source, m.fmt))
    return out


RENDER_MAX = 128


def render(row: SampleRow, index: int, seed: int, size: int, quality: int = 90, fmt: str | None = None) -> bytes:
    """Encoded image bytes for a planned row. Above RENDER_MAX pixels the scene is drawn at RENDER_MAX, scaled up
    and given sensor-like grain, so large images cost little to make yet encode to realistic file sizes."""
    spec = next(m for m in MODALITY_SPECS if m.name == row.modality)
    rng = np.random.default_rng([seed, 2, index])
    base = min(size, RENDER_MAX)
    arr = np.clip(spec.draw(rng, base, row.finding, LOCATIONS[row.location]), 0, 255).round().astype("uint8")
    im = Image.fromarray(arr)
    if size > base:
        big = np.asarray(im.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
        im = Image.fromarray(np.clip(big + rng.normal(0, 4, big.shape), 0, 255).round().astype("uint8"))
    buf = io.BytesIO()
    if (fmt or row.fmt) == "PNG":
        im.save(buf, "PNG", compress_level=6)
    else:
        im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _schema(fields: list, features: dict):
    import pyarrow as pa

    return pa.schema(fields, metadata={b"huggingface": json.dumps({"info": {"features": features}}).encode()})


def demo_schema():
    import pyarrow as pa

    image = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
    return _schema([pa.field("image", image), pa.field("id", pa.string()), pa.field("caption", pa.string())], HF_FEATURES)


def write_sample_set(out: Path, rows: int = 240, shards: int = 3, size: int = 112, seed: int = 0,
                     layout: str = "demo", row_group_size: int = 100, quality: int = 90,
                     on_progress: Callable[[int, int], None] | None = None, image_format: str | None = None) -> dict:
    """Writes the sample set under `out` and returns a summary (files, rows, modality counts)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    plan = plan_rows(rows, seed)
    shards = max(1, min(shards, rows or 1))
    bounds = [round(k * rows / shards) for k in range(shards + 1)]
    files: list[str] = []
    done = 0
    for k in range(shards):
        part = range(bounds[k], bounds[k + 1])
        if layout == "demo":
            path = out / f"train-{k:05d}-of-{shards:05d}.parquet"
            writer = pq.ParquetWriter(path, demo_schema())
            for start in range(part.start, part.stop, row_group_size):
                idx = range(start, min(start + row_group_size, part.stop))
                images = []
                for i in idx:
                    images.append({"bytes": render(plan[i], i, seed, size, quality, image_format), "path": None})
                    done += 1
                    if on_progress:
                        on_progress(done, rows)
                writer.write_table(pa.table({"image": images, "id": [plan[i].id for i in idx],
                                             "caption": [plan[i].caption for i in idx]}, schema=demo_schema()),
                                   row_group_size=row_group_size)
            writer.close()
            files.append(path.name)
        elif layout == "full":
            import zstandard

            names = [f"{plan[i].source}_{seed:03d}_{i:06d}{'.png' if (image_format or plan[i].fmt) == 'PNG' else '.jpg'}"
                     for i in part]
            (out / "25M_full").mkdir(exist_ok=True)
            (out / "25M_accessible").mkdir(exist_ok=True)
            meta = out / "25M_full" / f"train-{k:05d}-of-{shards:05d}.parquet"
            schema = _schema([pa.field("file_name", pa.string()), pa.field("caption", pa.string()),
                              pa.field("source", pa.string())], FULL_FEATURES)
            pq.write_table(pa.table({"file_name": names, "caption": [plan[i].caption for i in part],
                                     "source": [plan[i].source for i in part]}, schema=schema),
                           meta, row_group_size=row_group_size)
            archive = out / "25M_accessible" / f"dataset_shard_{k}.tar.zst"
            with open(archive, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as zw, \
                    tarfile.open(fileobj=zw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for i, name in zip(part, names, strict=False):
                    done += 1
                    if on_progress:
                        on_progress(done, rows)
                    if plan[i].source == RESTRICTED_SOURCE:
                        continue
                    data = render(plan[i], i, seed, size, quality, image_format)
                    info = tarfile.TarInfo(f"dataset_shard_{k}/{plan[i].source}/{name}")
                    info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
                    tar.addfile(info, io.BytesIO(data))
            files += [str(meta.relative_to(out)), str(archive.relative_to(out))]
        else:
            raise ValueError(f"unknown layout {layout!r}")
    counts: dict[str, int] = {}
    for r in plan:
        counts[r.modality] = counts.get(r.modality, 0) + 1
    return {"dir": str(out), "layout": layout, "files": files, "rows": rows, "size": size, "seed": seed,
            "format": image_format or "auto", "modalities": counts}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m medtune_py.sample_set")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=240)
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layout", choices=["demo", "full"], default="demo")
    ap.add_argument("--row-group-size", type=int, default=100)
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--format", choices=["auto", "jpeg", "png"], default="auto",
                    help="auto: PNG for X-ray, JPEG for the rest (as MedTrinity mixes them)")
    args = ap.parse_args(argv)
    summary = write_sample_set(Path(args.out), args.rows, args.shards, args.size, args.seed, args.layout,
                               args.row_group_size, args.quality,
                               on_progress=lambda d, t: protocol.progress("generating", d, t, unit="rows"),
                               image_format=None if args.format == "auto" else args.format.upper())
    protocol.result(**summary)
    return 0


if __name__ == "__main__":
    protocol.run(main)
