"""Sanitising untrusted text and paths before anything reaches a dataset or a terminal."""
import pytest

from medtune_py.hostile_guard import MAX_ASPECT, MAX_CAPTION_CHARS, aspect_problem, caption_problem, escapes, scrub_text


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("plain text", "plain text"),
        ("tab\tand\nnewline kept", "tab\tand\nnewline kept"),
        ("windows\r\nand old mac\rlines", "windows\nand old mac\nlines"),
        ("bell\x07 null\x00 esc\x1b[31m del\x7f c1\x9b", "bell  null  esc [31m del  c1 "),
        ("over\u202eride \u2066isolate\u2069 mark\u200f", "override isolate mark"),
        ("中文 and émoji 🩻 stay", "中文 and émoji 🩻 stay"),
    ],
)
def test_scrub_text_removes_control_and_bidirectional_characters(text, clean):
    assert scrub_text(text) == clean


def test_caption_problem_flags_only_captions_past_the_limit():
    assert caption_problem("x" * MAX_CAPTION_CHARS) is None
    assert caption_problem("x" * (MAX_CAPTION_CHARS + 1)) == "caption_too_long"


@pytest.mark.parametrize(
    ("width", "height", "problem"),
    [(1, MAX_ASPECT, None), (1, MAX_ASPECT + 1, "extreme_aspect_ratio"), (20000, 1, "extreme_aspect_ratio"),
     (512, 512, None), (0, 10, None)],
)
def test_aspect_problem_matches_what_qwen2_vls_processor_rejects(width, height, problem):
    assert aspect_problem(width, height) == problem


def test_escapes_tells_a_link_out_of_the_folder_from_one_inside(tmp_path):
    root = tmp_path / "source"
    root.mkdir()
    (root / "inside.parquet").write_bytes(b"x")
    outside = tmp_path / "secret.parquet"
    outside.write_bytes(b"y")
    (root / "in-link").symlink_to(root / "inside.parquet")
    (root / "out-link").symlink_to(outside)
    assert not escapes(root / "in-link", root)
    assert escapes(root / "out-link", root)
    assert escapes(root / ".." / "secret.parquet", root)
