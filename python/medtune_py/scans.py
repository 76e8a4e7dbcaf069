"""Clinical scans (DICOM files, DICOM series folders, NIfTI volumes) turned into the PNG images a model sees.

    python -m medtune_py.scans convert --out DIR [--window auto|C/W] [--slices SPEC] PATH [PATH ...]

Each PATH is a DICOM file, a folder (searched recursively; its DICOM files are grouped into series by
SeriesInstanceUID) or a NIfTI volume (.nii, .nii.gz). Result:

    {"items": [{"input": I, "member": M, "kind", "images": [{"file", "width", "height", "slice", "slices"}],
                "modality", "photometric", "window": {"center", "width", "source"}, "bits"}
               | {"input": I, "member": M, "refused": {"code", "reason"}}]}

`input` is the index of PATH on the command line and `member` a number within it (the series or file of a
folder, in sorted order), so nothing read from a scan or its path has to travel back. The pixels go through what a
viewer applies: the modality LUT (rescale slope/intercept, so CT is in Hounsfield units), the VOI LUT or window
from the file unless --window names one, MONOCHROME1 inverted, palette colour expanded, YBR converted to RGB. 16-bit
data is windowed in floating point and only then quantised to 8 bits; with no window anywhere the frame's own
minimum and maximum span the output.

Privacy: PNG names are digests of the pixel source's bytes, the PNGs carry no text chunks, pydicom's validation
warnings (which quote element values) are silenced, and no element value other than the technical ones above
(modality, photometric interpretation, bits, window numbers) is ever emitted.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import protocol

NIFTI_SUFFIXES = (".nii", ".nii.gz")
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
SEG_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}
SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
# Modalities with pixel data that is not a picture to look at (dose grids, segment masks, reports, plans…).
NOT_PICTURES = {"SEG": "SEGMENTATION", "SR": "STRUCTURED_REPORT", "RTDOSE": "NOT_AN_IMAGE", "RTSTRUCT": "NOT_AN_IMAGE",
                "RTPLAN": "NOT_AN_IMAGE", "KO": "NOT_AN_IMAGE", "PR": "NOT_AN_IMAGE", "REG": "NOT_AN_IMAGE"}


class Refused(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Window:
    center: float
    width: float
    source: str  # "file", "user", "voi-lut", "range", "colour"
    function: str = "LINEAR"


@dataclass
class Picture:
    """One converted scan: the frames picked, as float or RGB arrays ready for quantisation."""
    kind: str
    modality: str
    photometric: str
    bits: int
    slices: int
    picked: list[int]
    frames: list[Any] = field(default_factory=list)  # uint8 HxW or HxWx3
    window: Window | None = None
    digest: str = ""


def _quiet_pydicom() -> Any:
    import pydicom
    from pydicom import config

    # Validation warnings quote element values (names, IDs): never let them reach a log.
    config.settings.reading_validation_mode = config.IGNORE
    warnings.filterwarnings("ignore", module="pydicom")
    return pydicom


# ---------------------------------------------------------------------------------------------------------
# Slices


def parse_slices(spec: str) -> tuple[str, list[int] | int]:
    """`middle`, `N` or `N,M,…` (0-based indices), or `even:K` (K slices evenly spread over the volume)."""
    if spec == "middle":
        return "middle", 0
    if spec.startswith("even:"):
        k = int(spec[5:])
        if k < 1 or k > 16:
            raise ValueError("even:K needs 1 <= K <= 16")
        return "even", k
    picked = [int(p) for p in spec.split(",")]
    if not picked or any(i < 0 for i in picked) or len(picked) > 16:
        raise ValueError("slice indices are 0-based, at most 16 of them")
    return "list", picked


def pick(n: int, spec: tuple[str, list[int] | int]) -> list[int]:
    how, arg = spec
    if how == "middle":
        return [n // 2]
    if how == "even":
        k = min(int(arg), n)  # type: ignore[arg-type]
        # The centres of k equal parts of the volume: never the first or last slice, which are mostly empty.
        return sorted({int((2 * j + 1) * n / (2 * k)) for j in range(k)})
    picked = list(arg)  # type: ignore[arg-type]
    out = [i for i in picked if i >= n]
    if out:
        raise Refused("SLICE_OUT_OF_RANGE", f"slice {out[0]} asked for, but the scan has {n} (0..{n - 1})")
    return picked


# ---------------------------------------------------------------------------------------------------------
# Grey-level transforms


def window_unit(values: Any, w: Window) -> Any:
    """Maps values through a window to [0, 1] (DICOM PS3.3 C.11.2.1.2: LINEAR, LINEAR_EXACT, SIGMOID)."""
    import numpy as np

    x = values.astype(np.float64, copy=False)
    c, width = float(w.center), float(w.width)
    if w.function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - c) / max(width, 1e-6)))
    if w.function == "LINEAR_EXACT":
        return np.clip((x - c) / max(width, 1e-6) + 0.5, 0.0, 1.0)
    width = max(width, 1.0)
    return np.clip(((x - (c - 0.5)) / max(width - 1.0, 1e-6)) + 0.5, 0.0, 1.0)


def range_window(values: Any) -> Window:
    import numpy as np

    lo, hi = float(np.min(values)), float(np.max(values))
    return Window(center=(lo + hi) / 2.0, width=max(hi - lo, 1.0), source="range", function="LINEAR_EXACT")


def to_uint8(unit: Any) -> Any:
    import numpy as np

    return np.round(unit * 255.0).astype(np.uint8)


def _first(v: Any) -> float:
    try:
        return float(v[0])
    except TypeError:
        return float(v)


# ---------------------------------------------------------------------------------------------------------
# DICOM


def _digest_files(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:20]


def read_dicom(path: Path, *, pixels: bool) -> Any:
    """Reads a DICOM file or refuses it with a typed code."""
    pydicom = _quiet_pydicom()
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=not pixels)
    except InvalidDicomError as err:
        raise Refused("NOT_A_SCAN", f"not a DICOM file ({err.__class__.__name__})") from None
    except (EOFError, OSError) as err:
        raise Refused("TRUNCATED", f"the file ends early ({type(err).__name__})") from None
    except Exception as err:  # noqa: BLE001 - a malformed file is one refusal, not a failed helper
        raise Refused("UNREADABLE", f"cannot be read as DICOM ({type(err).__name__})") from None
    return ds


def classify(ds: Any, *, pixels_read: bool = True) -> None:
    """Refuses what is not an image to look at (the pixel data check only when the pixels were read)."""
    meta_class = str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "") or "")
    sop_class = str(ds.get("SOPClassUID", "") or meta_class)
    if meta_class == DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
        raise Refused("DICOMDIR", "a DICOMDIR (an index of a DICOM medium), not an image: pass the folder it indexes")
    modality = str(ds.get("Modality", "") or "")
    if sop_class in SEG_CLASSES or modality == "SEG":
        raise Refused("SEGMENTATION", "a segmentation (a mask over another series), not an image to look at")
    if sop_class.startswith(SR_CLASS_PREFIX) or modality == "SR":
        raise Refused("STRUCTURED_REPORT", "a structured report (text and codes), not an image")
    if modality in NOT_PICTURES:
        raise Refused(NOT_PICTURES[modality], f"a {modality} object, not an image to look at")
    if pixels_read and "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise Refused("NO_PIXEL_DATA", f"a DICOM object without pixel data ({modality or 'no modality'})")


def _frame_groups(ds: Any, index: int) -> list[Any]:
    """The functional-group items that apply to one frame of an enhanced multi-frame object (per-frame first)."""
    groups = []
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per is not None and index < len(per):
        groups.append(per[index])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    return groups


def _from_groups(ds: Any, index: int, seq: str, attrs: tuple[str, ...]) -> dict[str, Any] | None:
    for g in _frame_groups(ds, index):
        items = g.get(seq)
        if items:
            item = items[0]
            if all(a in item for a in attrs):
                return {a: item.get(a) for a in attrs} | {"VOILUTFunction": item.get("VOILUTFunction")}
    return None


def _file_window(ds: Any, index: int) -> Window | None:
    wc, ww, fn = ds.get("WindowCenter"), ds.get("WindowWidth"), ds.get("VOILUTFunction")
    if wc is None or ww is None:
        grp = _from_groups(ds, index, "FrameVOILUTSequence", ("WindowCenter", "WindowWidth"))
        if grp is None:
            return None
        wc, ww, fn = grp["WindowCenter"], grp["WindowWidth"], grp["VOILUTFunction"]
    try:
        w = Window(center=_first(wc), width=_first(ww), source="file", function=str(fn or "LINEAR").upper())
    except (TypeError, ValueError, IndexError):
        return None
    return w if w.width > 0 else None


def _modality_lut(ds: Any, arr: Any, index: int) -> Any:
    import numpy as np
    from pydicom.pixels import apply_modality_lut

    if "ModalityLUTSequence" in ds or "RescaleSlope" in ds or "RescaleIntercept" in ds:
        return np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    grp = _from_groups(ds, index, "PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept"))
    if grp is not None:
        return arr.astype(np.float64) * float(grp["RescaleSlope"]) + float(grp["RescaleIntercept"])
    return arr.astype(np.float64)


def _voi_lut(ds: Any, values: Any) -> Any | None:
    """The file's VOI LUT applied, scaled to [0, 1], or None when the file has none."""
    import numpy as np
    from pydicom.pixels import apply_voi_lut

    if "VOILUTSequence" not in ds:
        return None
    item = ds.VOILUTSequence[0]
    bits = int(item.LUTDescriptor[2]) if "LUTDescriptor" in item else 16
    try:
        out = np.asarray(apply_voi_lut(values, ds, index=0, prefer_lut=True), dtype=np.float64)
    except (NotImplementedError, ValueError, IndexError, AttributeError):
        return None  # an unusable LUT: the frame's range is shown instead
    return np.clip(out / float((1 << bits) - 1), 0.0, 1.0)


def _colour_frame(ds: Any, arr: Any) -> Any:
    """An RGB frame as uint8: palette expanded, 16-bit colour scaled down in proportion, never cut."""
    import numpy as np
    from pydicom.pixels import apply_color_lut

    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        rgb = np.asarray(apply_color_lut(arr, ds))
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2]) if "RedPaletteColorLookupTableDescriptor" in ds else 8
        if rgb.dtype != np.uint8 or bits > 8:
            return to_uint8(np.clip(rgb.astype(np.float64) / float((1 << max(bits, 8)) - 1), 0.0, 1.0))
        return rgb
    bits = int(ds.get("BitsStored", 8) or 8)
    if arr.dtype == np.uint8:
        return arr
    return to_uint8(np.clip(arr.astype(np.float64) / float((1 << bits) - 1), 0.0, 1.0))


def _decode_frame(ds: Any, index: int, frames: int, path: Path | None = None) -> Any:
    """One frame. With `path` (multi-frame files), pydicom reads only that frame's bytes from the file, so a
    long cine loop or an enhanced CT never has to fit in memory whole."""
    from pydicom.pixels import pixel_array

    try:
        if path is not None:
            return pixel_array(str(path), index=index)
        return pixel_array(ds, index=index if frames > 1 else None)
    except (NotImplementedError, RuntimeError) as err:
        msg = str(err).lower()
        # pydicom says "no plugins are available" / "missing required dependencies" when nothing can decode the
        # transfer syntax, and "exceptions were raised by all available plugins" when the data itself is bad.
        if "raised by all available plugins" not in msg and ("plugin" in msg or "dependenc" in msg or "decoder" in msg):
            ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
            raise Refused("UNSUPPORTED_COMPRESSION", f"no decoder for {getattr(ts, 'name', ts)}") from None
        raise Refused("DECODE_FAILED", f"the pixel data cannot be decoded ({type(err).__name__})") from None
    except (ValueError, EOFError, OSError) as err:
        text = str(err).lower()
        if "expected" in text or "length" in text or "short" in text or "end" in text or isinstance(err, EOFError):
            raise Refused("TRUNCATED", "the pixel data is shorter than the image it declares (a truncated file)") from None
        raise Refused("DECODE_FAILED", f"the pixel data cannot be decoded ({type(err).__name__})") from None
    except Exception as err:  # noqa: BLE001
        raise Refused("DECODE_FAILED", f"the pixel data cannot be decoded ({type(err).__name__})") from None


def _grey(ds: Any, raw: Any, index: int, window: Window | None) -> tuple[Any, Window]:
    """A greyscale frame as uint8 through modality LUT, window (or VOI LUT) and MONOCHROME1 inversion."""
    import numpy as np

    values = _modality_lut(ds, raw, index)
    used: Window
    unit = None
    if window is not None:
        used = window
    else:
        file_w = _file_window(ds, index)
        if file_w is not None:
            used = file_w
        else:
            # The VOI LUT's input is the modality LUT's output (PS3.3 C.11.2), as whole numbers.
            unit = _voi_lut(ds, np.rint(values).astype(np.int64))
            used = Window(0.0, 0.0, "voi-lut") if unit is not None else range_window(values)
    if unit is None:
        unit = window_unit(values, used)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        unit = 1.0 - unit
    return to_uint8(unit), used


def dicom_instances(ds: Any) -> int:
    try:
        return max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        return 1


def convert_dicom_file(path: Path, window: Window | None, spec: tuple[str, Any]) -> Picture:
    head = read_dicom(path, pixels=False)
    classify(head, pixels_read=False)
    frames = dicom_instances(head)
    picked = pick(frames, spec)
    # A single frame is read whole; a multi-frame file frame by frame (the header has every LUT and window).
    ds = head if frames > 1 else read_dicom(path, pixels=True)
    if frames == 1:
        classify(ds)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    pic = Picture(kind="dicom", modality=str(ds.get("Modality", "") or ""), photometric=photometric,
                  bits=int(ds.get("BitsStored", 0) or 0), slices=frames, picked=picked, digest=_digest_files([path]))
    for i in picked:
        raw = _decode_frame(ds, i, frames, path if frames > 1 else None)
        if raw.ndim == 3 and raw.shape[-1] in (3, 4) and photometric not in ("MONOCHROME1", "MONOCHROME2"):
            pic.frames.append(_colour_frame(ds, raw[..., :3]))
            pic.window = Window(0.0, 0.0, "colour")
        elif photometric == "PALETTE COLOR":
            pic.frames.append(_colour_frame(ds, raw))
            pic.window = Window(0.0, 0.0, "colour")
        else:
            img, pic.window = _grey(ds, raw, i, window)
            pic.frames.append(img)
    return pic


def _position_key(ds: Any) -> tuple[float, float]:
    """Sorts a series along its normal (ImagePositionPatient · slice normal), then by InstanceNumber."""
    try:
        o = [float(v) for v in ds.ImageOrientationPatient]
        p = [float(v) for v in ds.ImagePositionPatient]
        n = (o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3])
        along = sum(a * b for a, b in zip(n, p, strict=False))
    except (AttributeError, TypeError, ValueError, IndexError):
        along = 0.0
    try:
        number = float(ds.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        number = 0.0
    return (along, number)


def convert_series(files: list[tuple[Path, Any]], window: Window | None, spec: tuple[str, Any]) -> Picture:
    """A series of single-frame files as one volume: the slices picked from the sorted stack."""
    ordered = sorted(files, key=lambda f: _position_key(f[1]))
    if len(ordered) == 1:
        return convert_dicom_file(ordered[0][0], window, spec)
    picked = pick(len(ordered), spec)
    first = ordered[0][1]
    pic = Picture(kind="dicom-series", modality=str(first.get("Modality", "") or ""),
                  photometric=str(first.get("PhotometricInterpretation", "")), bits=int(first.get("BitsStored", 0) or 0),
                  slices=len(ordered), picked=picked, digest=_digest_files([p for p, _ in ordered]))
    for i in picked:
        one = convert_dicom_file(ordered[i][0], window, ("list", [0]))
        pic.frames.extend(one.frames)
        pic.window = one.window
    return pic


# ---------------------------------------------------------------------------------------------------------
# NIfTI


def _axial_plane(img: Any, k: int) -> Any:
    """Axial slice k (counted from inferior to superior) of a NIfTI image, read lazily from its file and turned to
    RAS+ in-plane axes (the first volume of 4-D data). Only that plane is read: a large volume never is whole."""
    import nibabel as nib
    import numpy as np

    ornt = nib.io_orientation(img.affine)  # per file axis: (RAS axis it runs along, +1 / -1)
    along = {int(out): (axis, int(flip)) for axis, (out, flip) in enumerate(ornt)}
    s_axis, s_flip = along[2]
    n = img.shape[s_axis]
    index: list[Any] = [slice(None)] * 3 + [0] * (len(img.shape) - 3)
    index[s_axis] = k if s_flip > 0 else n - 1 - k
    plane = np.asarray(img.dataobj[tuple(index)], dtype=np.float64)  # scl_slope / scl_inter applied by nibabel
    rest = [a for a in range(3) if a != s_axis]  # the two file axes left in the plane, in order
    outs = [int(ornt[a][0]) for a in rest]
    if outs != sorted(outs):
        plane = plane.T
        rest = rest[::-1]
    for dim, a in enumerate(rest):
        if ornt[a][1] < 0:
            plane = np.flip(plane, axis=dim)
    return plane


def convert_nifti(path: Path, window: Window | None, spec: tuple[str, Any]) -> Picture:
    import numpy as np

    try:
        import nibabel as nib

        img = nib.load(str(path))
        if len(img.shape) == 2:
            img = nib.Nifti1Image(np.asarray(img.dataobj)[:, :, None], img.affine, img.header)
        if len(img.shape) < 3 or min(img.shape[:3]) < 1:
            raise Refused("NOT_AN_IMAGE", f"a NIfTI array of shape {tuple(img.shape)} is not an image volume")
        slices = img.shape[int({int(o): a for a, (o, _) in enumerate(nib.io_orientation(img.affine))}[2])]
        picked = pick(slices, spec)
        pic = Picture(kind="nifti", modality="", photometric="MONOCHROME2", bits=int(img.get_data_dtype().itemsize * 8),
                      slices=slices, picked=picked, digest=_digest_files([path]))
        for k in picked:
            # RAS+ in-plane: axis 0 runs to the patient's left, axis 1 to anterior. Rotating by 90 degrees puts
            # anterior at the top and the patient's right on the viewer's left, as radiology viewers show axial slices.
            plane = np.rot90(_axial_plane(img, k))
            w = window or range_window(plane)
            pic.window = w
            pic.frames.append(to_uint8(window_unit(plane, w)))
        return pic
    except Refused:
        raise
    except (EOFError, OSError) as err:
        raise Refused("TRUNCATED", f"the NIfTI file ends early or cannot be read ({type(err).__name__})") from None
    except Exception as err:  # noqa: BLE001
        raise Refused("UNREADABLE", f"cannot be read as NIfTI ({type(err).__name__})") from None


# ---------------------------------------------------------------------------------------------------------
# Inputs


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def is_scan(path: str) -> bool:
    p = Path(path)
    if p.is_dir() or is_nifti(p) or p.suffix.lower() in (".dcm", ".dicom", ".ima"):
        return True
    try:
        with open(p, "rb") as f:
            return f.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def preview(path: str) -> Any:
    """The first image a scan gives with the default settings (what `ask` shows the model), as a uint8 array."""
    p = Path(path)
    units = members(p) if p.is_dir() else [Member(key=p.name, series_uid="", nifti=p)] if is_nifti(p) else None
    if units is None:
        ds = read_dicom(p, pixels=False)
        classify(ds, pixels_read=False)
        units = [Member(key=p.name, series_uid="", files=[(p, ds)])]
    for m in units:
        if m.refused is None:
            return convert_member(m, None, ("middle", 0)).frames[0]
    raise units[0].refused if units and units[0].refused else Refused("NO_SCANS", "no scan in the folder")


def walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
    return out


@dataclass
class Member:
    """A unit of a folder: one series (several files), one multi-frame or single file, one NIfTI, or a refusal."""
    key: str  # the series' relative folder or the file's relative path (used for caption look-up only)
    series_uid: str
    files: list[tuple[Path, Any]] = field(default_factory=list)
    nifti: Path | None = None
    refused: Refused | None = None


def members(folder: Path) -> list[Member]:
    """The scans in a folder: DICOM files grouped by SeriesInstanceUID (headers only), NIfTI files, refusals."""
    series: dict[str, Member] = {}
    out: list[Member] = []
    for path in walk(folder):
        rel = path.relative_to(folder).as_posix()
        if is_nifti(path):
            out.append(Member(key=rel, series_uid="", nifti=path))
            continue
        try:
            ds = read_dicom(path, pixels=False)
            classify(ds, pixels_read=False)
        except Refused as r:
            if r.code == "NOT_A_SCAN" and path.suffix.lower() not in (".dcm", ".dicom", ".ima", ""):
                continue  # a CSV, a README, a thumbnail next to the scans: not meant as a scan
            out.append(Member(key=rel, series_uid="", refused=r))
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if not uid or dicom_instances(ds) > 1:
            out.append(Member(key=rel, series_uid=uid, files=[(path, ds)]))
            continue
        m = series.get(uid)
        if m is None:
            m = series[uid] = Member(key=Path(rel).parent.as_posix(), series_uid=uid)
            out.append(m)
        m.files.append((path, ds))
    return out


def convert_member(m: Member, window: Window | None, spec: tuple[str, Any]) -> Picture:
    if m.refused is not None:
        raise m.refused
    if m.nifti is not None:
        return convert_nifti(m.nifti, window, spec)
    return convert_series(m.files, window, spec)


def write_picture(pic: Picture, out: Path, settings: str) -> list[dict[str, Any]]:
    """Writes the frames as PNGs named by a digest of the scan's bytes and the settings that made them."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    images = []
    stem = hashlib.sha256(f"{pic.digest}|{settings}".encode()).hexdigest()[:20]
    for index, frame in zip(pic.picked, pic.frames, strict=False):
        name = f"scan-{stem}-{index}.png"
        target = out / name
        if not target.exists():
            tmp = out / f".{name}.{os.getpid()}.tmp"
            Image.fromarray(frame, mode="RGB" if frame.ndim == 3 else "L").save(tmp, format="PNG")
            os.replace(tmp, target)
        images.append({"file": str(target), "width": int(frame.shape[1]), "height": int(frame.shape[0]),
                       "slice": index, "slices": pic.slices})
    return images


def describe(pic: Picture) -> dict[str, Any]:
    w = pic.window
    return {"kind": pic.kind, "modality": pic.modality, "photometric": pic.photometric, "bits": pic.bits,
            "window": None if w is None or w.source in ("colour", "voi-lut") and w.width == 0 else
            {"center": round(w.center, 3), "width": round(w.width, 3), "source": w.source, "function": w.function},
            "voiLut": bool(w is not None and w.source == "voi-lut")}


def settings_tag(window: Window | None) -> str:
    return "auto" if window is None else f"{window.center:g}/{window.width:g}"


def parse_window(text: str) -> Window | None:
    if text == "auto":
        return None
    try:
        c, w = text.split("/", 1)
        win = Window(center=float(c), width=float(w), source="user")
    except ValueError:
        protocol.fail("BAD_ARGS", f"--window must be auto or CENTER/WIDTH, not {text!r}")
    if win.width <= 0:
        protocol.fail("BAD_ARGS", f"the window width must be > 0, not {win.width:g}")
    return win


def convert_inputs(paths: list[str], out: Path, window: Window | None, spec: tuple[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    total = len(paths)
    for i, raw in enumerate(paths):
        protocol.progress("scans", i, total, unit="inputs")
        path = Path(raw)
        if path.is_dir():
            units = members(path)
            if not units:
                refused = {"code": "NO_SCANS", "reason": "the folder holds no DICOM or NIfTI file"}
                items.append({"input": i, "member": 0, "refused": refused})
        elif path.is_file():
            if is_nifti(path):
                units = [Member(key=path.name, series_uid="", nifti=path)]
            else:
                try:
                    ds = read_dicom(path, pixels=False)
                    classify(ds, pixels_read=False)
                    units = [Member(key=path.name, series_uid="", files=[(path, ds)])]
                except Refused as r:
                    units = [Member(key=path.name, series_uid="", refused=r)]
        else:
            units = [Member(key="", series_uid="", refused=Refused("MISSING", "no such file or folder"))]
        for j, m in enumerate(units):
            try:
                pic = convert_member(m, window, spec)
                items.append({"input": i, "member": j, **describe(pic), "images": write_picture(pic, out, settings_tag(window))})
            except Refused as r:
                items.append({"input": i, "member": j, "refused": {"code": r.code, "reason": r.reason}})
    protocol.progress("scans", total, total, unit="inputs", force=True)
    return items


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="medtune_py.scans", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="scans to PNG images")
    conv.add_argument("--out", required=True, help="folder for the PNG images")
    conv.add_argument("--window", default="auto", help="auto (the file's VOI LUT or window, else the range) or C/W")
    conv.add_argument("--slices", default="middle", help="middle, N, N,M,... (0-based) or even:K")
    conv.add_argument("paths", nargs="+")
    a = p.parse_args(argv)
    try:
        spec = parse_slices(a.slices)
    except ValueError as err:
        protocol.fail("BAD_ARGS", f"--slices {a.slices}: {err}", "use middle, an index such as 12, 3,7,11 or even:5")
    items = convert_inputs(a.paths, Path(a.out), parse_window(a.window), spec)
    protocol.result(items=items)
    return 0


if __name__ == "__main__":
    protocol.run(main)
