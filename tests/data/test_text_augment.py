"""Caption augmentations: tag shuffling, tag dropout, capitalisation."""

import random
from types import SimpleNamespace

import pytest

from modules.config.concept_config import ConceptTextConfig
from modules.data.text_augment import (
    CaptionAugmenter,
    drop_tags,
    randomize_caps,
    shuffle_tags,
    special_tag_matcher,
)

CAPTION = "person, red hat, blue coat, smiling, outdoors, sunny"
TAGS = ["person", "red hat", "blue coat", "smiling", "outdoors", "sunny"]


def settings(**fields) -> ConceptTextConfig:
    text = ConceptTextConfig.default_values()
    for key, value in fields.items():
        setattr(text, key, value)
    return text


def never_special(_tag: str) -> bool:
    return False


def test_shuffle_keeps_leading_tags_and_permutes_the_rest():
    cfg = settings(enable_tag_shuffling=True, keep_tags_count=2)
    outputs = {shuffle_tags(CAPTION, cfg, random.Random(s)) for s in range(20)}
    assert len(outputs) > 5
    for out in outputs:
        tags = out.split(", ")
        assert tags[:2] == TAGS[:2] and sorted(tags) == sorted(TAGS)
    assert shuffle_tags(CAPTION, settings(), random.Random(0)) == CAPTION  # off


def test_custom_delimiter():
    cfg = settings(enable_tag_shuffling=True, keep_tags_count=0, tag_delimiter=";")
    out = shuffle_tags("a;b ; c;;d", cfg, random.Random(1))
    assert sorted(out.split("; ")) == ["a", "b", "c", "d"]


def test_full_dropout_removes_the_whole_tail_with_probability_p():
    cfg = settings(tag_dropout_enable=True, tag_dropout_mode="FULL", tag_dropout_probability=0.5, keep_tags_count=1)
    outputs = [drop_tags(CAPTION, cfg, random.Random(s), never_special) for s in range(200)]
    assert set(outputs) == {"person", CAPTION}
    assert 60 < outputs.count("person") < 140


def test_random_dropout_drops_tags_independently():
    cfg = settings(tag_dropout_enable=True, tag_dropout_mode="RANDOM", tag_dropout_probability=0.5, keep_tags_count=1)
    dropped = {t: 0 for t in TAGS}
    for s in range(400):
        kept = drop_tags(CAPTION, cfg, random.Random(s), never_special).split(", ")
        assert kept[0] == "person"
        for t in TAGS:
            dropped[t] += t not in kept
    assert dropped["person"] == 0
    assert all(140 < dropped[t] < 260 for t in TAGS[1:])


def test_weighted_dropout_drops_later_tags_more():
    cfg = settings(tag_dropout_enable=True, tag_dropout_mode="RANDOM WEIGHTED", tag_dropout_probability=1.0,
                   keep_tags_count=1)
    dropped = {t: 0 for t in TAGS}
    for s in range(500):
        kept = drop_tags(CAPTION, cfg, random.Random(s), never_special).split(", ")
        for t in TAGS:
            dropped[t] += t not in kept
    assert dropped["sunny"] == 500  # last tag: p * n / n = 1
    assert 50 < dropped["red hat"] < 150  # first droppable tag: p / 5
    assert dropped["red hat"] < dropped["smiling"] < dropped["sunny"]


@pytest.mark.parametrize("mode,expected", [("WHITELIST", "person, red hat, sunny"),
                                           ("BLACKLIST", "person, blue coat, smiling, outdoors"),
                                           ("NONE", "person")])
def test_full_dropout_with_special_tags(mode, expected):
    cfg = settings(tag_dropout_enable=True, tag_dropout_probability=1.0, tag_dropout_special_tags_mode=mode,
                   tag_dropout_special_tags="red hat, sunny")
    augment = CaptionAugmenter(cfg)
    assert augment(CAPTION, lambda stage: random.Random(stage)) == expected


def test_random_dropout_whitelist_always_keeps_special_tags():
    cfg = settings(tag_dropout_enable=True, tag_dropout_mode="RANDOM", tag_dropout_probability=0.99,
                   tag_dropout_special_tags_mode="WHITELIST", tag_dropout_special_tags="sunny")
    matcher = special_tag_matcher("sunny", ",", False)
    for s in range(20):
        assert drop_tags(CAPTION, cfg, random.Random(s), matcher).endswith("sunny")


def test_special_tags_from_files_and_regex(tmp_path):
    txt = tmp_path / "tags.txt"
    txt.write_text("red hat\n\nsunny\n", encoding="utf-8")
    csv_file = tmp_path / "tags.csv"
    csv_file.write_text("smiling,0.9\n\"blue coat\",0.5\n", encoding="utf-8")
    assert special_tag_matcher(str(txt), ",", False)("red hat")
    assert not special_tag_matcher(str(txt), ",", False)("person")
    csv_match = special_tag_matcher(str(csv_file), ",", False)
    assert csv_match("smiling") and csv_match("blue coat") and not csv_match("0.9")
    rx = special_tag_matcher(r"\w+ hat, sun.*", ",", True)
    assert rx("red hat") and rx("(green hat)") and rx("sunny") and not rx("a red hat")
    assert not special_tag_matcher(r"sun.*", ",", False)("sunny")  # no regex: exact only


def test_caps_modes():
    base = settings(caps_randomize_enable=True, caps_randomize_probability=1.0, keep_tags_count=1)
    for mode, expected in [("capslock", "person, RED HAT, BLUE COAT"), ("title", "person, Red Hat, Blue Coat"),
                           ("first", "person, Red hat, Blue coat")]:
        base.caps_randomize_mode = mode
        assert randomize_caps("person, red hat, blue coat", base, random.Random(0)) == expected
    base.caps_randomize_mode = "random"
    outs = {randomize_caps("person, red hat", base, random.Random(s)) for s in range(10)}
    assert len(outs) > 1 and all(o.lower() == "person, red hat" and o.startswith("person, ") for o in outs)


def test_caps_probability_and_lowercase():
    cfg = settings(caps_randomize_enable=True, caps_randomize_probability=0.5, caps_randomize_mode="capslock",
                   keep_tags_count=0)
    outs = [randomize_caps("a, b, c, d", cfg, random.Random(s)) for s in range(50)]
    assert "a, b, c, d" in outs and "A, B, C, D" in outs
    lower_only = settings(caps_randomize_lowercase=True)  # lowercasing works even with the feature off
    assert randomize_caps("Red HAT", lower_only, random.Random(0)) == "red hat"


def test_augmenter_is_deterministic_per_key():
    cfg = settings(enable_tag_shuffling=True, tag_dropout_enable=True, tag_dropout_mode="RANDOM",
                   tag_dropout_probability=0.3, caps_randomize_enable=True, caps_randomize_probability=0.5)
    augment = CaptionAugmenter(cfg)

    def keyed(k):
        return lambda stage: random.Random(f"{k}:{stage}")

    assert augment(CAPTION, keyed(1)) == augment(CAPTION, keyed(1))
    assert len({augment(CAPTION, keyed(k)) for k in range(10)}) > 3


def test_plain_namespace_settings_work():
    ns = SimpleNamespace(**settings().to_dict())
    ns.enable_tag_shuffling = True
    assert sorted(CaptionAugmenter(ns)(CAPTION, lambda s: random.Random(s)).split(", ")) == sorted(TAGS)
