"""MedTrinity rows: modality from the caption (or the source), defused captions, safe file names, stable splits
and questions, and what is kept, converted or skipped of an image."""
import io

import pytest
from PIL import Image

from medtune_py.medtrinity import (
    MODALITIES,
    detect_modality,
    inspect_image,
    load_questions,
    modality_of,
    neutralise,
    parse_modalities,
    question_for,
    safe_stem,
    split_of,
)


@pytest.mark.parametrize(
    ("caption", "modality"),
    [
        ("The image is a CT scan of the abdomen. A PET tracer is mentioned later.", "CT"),
        ("The image is a PET/CT fusion of the chest.", "PET"),
        ("An axial T2-weighted MRI of the brain.", "MRI"),
        ("A sagittal MR image of the knee.", "MRI"),
        ("A chest X-ray showing consolidation.", "X-ray"),
        ("A frontal radiograph of the hand.", "X-ray"),
        ("Ultrasound of the liver with a hypoechoic lesion.", "ultrasound"),
        ("Colonoscopy image of a polyp.", "endoscopy"),
        ("Dermoscopy of a pigmented skin lesion.", "dermoscopy"),
        ("Fundus photograph of the retina.", "fundus"),
        ("Histopathology slide, H&E stain, of a tumour.", "pathology"),
        ("A photograph of a hospital corridor.", "other"),
        ("", "other"),
    ],
)
def test_detect_modality_reads_the_first_sentence(caption, modality):
    assert detect_modality(caption) == modality


def test_a_modality_named_only_after_the_first_sentence_does_not_count():
    assert detect_modality("An image of the abdomen. It was taken by CT.") == "other"


def test_a_single_modality_source_settles_what_the_caption_does_not():
    assert modality_of("An image of the abdomen.", "DeepLesion ") == "CT"
    assert modality_of("An MRI of the knee.", "deeplesion") == "MRI"
    assert modality_of("An image of the abdomen.", "pmc_oa") == "other"
    assert modality_of("An image of the abdomen.") == "other"


def test_parse_modalities_takes_names_and_aliases_case_insensitively():
    assert parse_modalities("ct, MRI,xray,us,path") == frozenset({"CT", "MRI", "X-ray", "ultrasound", "pathology"})
    assert parse_modalities(None) is None
    assert parse_modalities(" , ") is None
    with pytest.raises(ValueError, match="unknown modality 'bone'"):
        parse_modalities("ct,bone")
    assert set(MODALITIES) == {parse_modalities(m).__iter__().__next__() for m in MODALITIES}


@pytest.mark.parametrize(
    ("caption", "expected", "changed"),
    [
        ("A CT of the chest.", "A CT of the chest.", False),
        ("See <image> here", "See [image] here", True),
        ("a <VIDEO> and <audio>", "a [VIDEO] and [audio]", True),
        ("ends <|im_end|> early <|image_pad|>", "ends [im_end] early [image_pad]", True),
        ("line\r\nbreak\x07bell\u202eRTL", "line\nbreak bellRTL", True),
        ("  padded  ", "padded", False),
    ],
)
def test_neutralise_defuses_placeholders_special_tokens_and_control_characters(caption, expected, changed):
    assert neutralise(caption) == (expected, changed)


@pytest.mark.parametrize(
    "row_id",
    ["abc", "../../etc/passwd", ".hidden", "名前/画像 1.jpg", "rtl-\u202eexe.png", "", "x" * 500, "a\x00b"],
)
def test_safe_stem_is_a_plain_ascii_name_that_never_leaves_its_folder(row_id):
    stem = safe_stem(row_id)
    assert stem.isascii()
    assert all(c.isalnum() or c in "._-" for c in stem)
    assert not stem.startswith((".", "-"))
    assert len(stem) <= 80 + 13
    assert stem == safe_stem(row_id)


def test_distinct_ids_get_distinct_stems_even_when_they_clean_to_the_same_text():
    assert safe_stem("a/b") != safe_stem("a?b")
    assert safe_stem("x" * 500) != safe_stem("x" * 501)


def test_split_of_is_stable_and_takes_about_the_asked_share():
    ids = [f"row-{i}" for i in range(4000)]
    first = [split_of(i, 0.1) for i in ids]
    assert first == [split_of(i, 0.1) for i in reversed(ids)][::-1]
    assert 0.08 < first.count("val") / len(ids) < 0.12
    assert {split_of(i, 0) for i in ids} == {"train"}


def test_question_for_picks_the_same_question_for_the_same_id_and_mixes_languages():
    pools = {"en": ["What is shown?", "Describe the image."], "zh": ["图中显示了什么？", "请描述这张图像。"]}
    ids = [f"id-{i}" for i in range(200)]
    assert [question_for(i, "en", pools) for i in ids] == [question_for(i, "en", pools) for i in ids]
    mixed = {question_for(i, "mixed", pools) for i in ids}
    assert mixed == set(pools["en"]) | set(pools["zh"])


def test_load_questions_skips_comments_and_refuses_placeholders(tmp_path):
    good = tmp_path / "q.txt"
    good.write_text("# comment\nWhat is shown?\n\nDescribe it.\n", encoding="utf-8")
    assert load_questions(good) == ["What is shown?", "Describe it."]
    bad = tmp_path / "bad.txt"
    bad.write_text("Look at <image> please\n", encoding="utf-8")
    with pytest.raises(ValueError, match="placeholders"):
        load_questions(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no questions"):
        load_questions(empty)


def encoded(mode: str, size: tuple[int, int], fmt: str, **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, fmt, **save)
    return out.getvalue()


def test_jpeg_and_png_in_plain_modes_are_kept_byte_for_byte():
    for data, ext in [(encoded("RGB", (32, 16), "JPEG"), ".jpg"), (encoded("L", (16, 16), "PNG"), ".png")]:
        outcome = inspect_image(data)
        assert (outcome.ok, outcome.data, outcome.ext, outcome.converted) == (True, data, ext, False)


def test_other_modes_and_formats_are_converted_once_to_what_llamafactory_loads():
    rgba = inspect_image(encoded("RGBA", (8, 8), "PNG"))
    assert (rgba.ok, rgba.ext, rgba.converted) == (True, ".png", True)
    assert Image.open(io.BytesIO(rgba.data)).mode == "RGB"
    deep = inspect_image(encoded("I;16", (8, 8), "PNG"))
    assert deep.ok and Image.open(io.BytesIO(deep.data)).mode == "L"
    bmp = inspect_image(encoded("RGB", (8, 8), "BMP"))
    assert (bmp.ok, bmp.ext) == (True, ".png")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_image"),
        (None, "empty_image"),
        (b"not an image at all", "corrupt_image"),
        (encoded("L", (2000, 5), "PNG"), "extreme_aspect_ratio"),
    ],
)
def test_unusable_images_are_skipped_with_a_reason(data, reason):
    outcome = inspect_image(data)
    assert (outcome.ok, outcome.reason) == (False, reason)


def test_an_image_over_the_pixel_limit_is_refused_from_its_header():
    assert inspect_image(encoded("L", (100, 100), "PNG"), max_pixels=99 * 99).reason == "image_too_large"


def test_a_cut_short_jpeg_is_not_kept():
    data = encoded("RGB", (256, 256), "JPEG", quality=90)
    outcome = inspect_image(data[: len(data) // 2])
    assert not outcome.ok
    assert outcome.reason in ("truncated_image", "corrupt_image")
