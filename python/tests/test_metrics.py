"""BLEU-4 and ROUGE as LLaMA-Factory's predict path scores them (characters for BLEU, jieba words for ROUGE)."""
import json

import pytest

from medtune_py import metrics
from medtune_py.protocol import HelperError


@pytest.mark.parametrize("text", ["The image is a CT scan of the chest.", "这是一张胸部CT图像。"])
def test_an_answer_equal_to_its_reference_scores_100_everywhere(text):
    assert metrics.score(text, text) == {"bleu-4": 100.0, "rouge-1": 100.0, "rouge-2": 100.0, "rouge-l": 100.0}


def test_an_empty_answer_scores_0_everywhere():
    assert metrics.score("", "A CT scan of the chest.") == {"bleu-4": 0.0, "rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}


def test_scores_rise_as_the_answer_gets_closer_to_the_reference():
    ref = "The image is a CT scan of the chest showing a nodule."
    far = metrics.score("An ultrasound of the liver.", ref)
    near = metrics.score("The image is a CT scan of the chest.", ref)
    for key in metrics.KEYS:
        assert 0 <= far[key] < near[key] < 100


def test_mean_averages_each_metric_and_is_none_for_no_samples():
    samples = [dict.fromkeys(metrics.KEYS, 10.0), dict.fromkeys(metrics.KEYS, 30.0)]
    assert metrics.mean(samples) == dict.fromkeys(metrics.KEYS, 20.0)
    assert metrics.mean([]) is None


def test_read_pairs_takes_predict_and_label_and_skips_blank_lines(tmp_path):
    path = tmp_path / "generated_predictions.jsonl"
    rows = [{"prompt": "q", "predict": "a CT", "label": "a CT scan"}, {"predict": 3, "label": None}]
    path.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n", encoding="utf-8")
    assert metrics.read_pairs(path) == [("a CT", "a CT scan"), ("3", "None")]


def test_read_pairs_names_the_line_that_is_not_json(tmp_path):
    path = tmp_path / "generated_predictions.jsonl"
    path.write_text('{"predict": "a", "label": "b"}\n{not json\n', encoding="utf-8")
    with pytest.raises(HelperError) as err:
        metrics.read_pairs(path)
    assert err.value.code == "BAD_PAIRS"
    assert f"{path}:2" in err.value.message
