"""Concept scanning and caption sources."""

from collections import Counter

from modules.config.enums import ConceptType
from modules.data import TrainDataset
from modules.data.scan import list_images, scan_concept

from .conftest import make_concept, write_image


def test_scan_keeps_images_only_and_skips_side_files(tmp_path):
    folder = tmp_path / "c"
    for name in ("a.png", "b.JPG", "c.webp", "d.bmp", "e.tiff", "a-masklabel.png", "a-condlabel.png"):
        write_image(folder / name, (8, 8))
    (folder / "notes.txt").write_text("x")
    (folder / "f.gif").write_bytes(b"GIF89a")
    names = [p.name for p in list_images(folder, recursive=False)]
    assert names == ["a.png", "b.JPG", "c.webp", "d.bmp", "e.tiff"]


def test_include_subdirectories_skips_hidden_folders(tmp_path):
    folder = tmp_path / "c"
    write_image(folder / "top.png", (8, 8))
    write_image(folder / "sub" / "deep.png", (8, 8))
    write_image(folder / ".hidden" / "secret.png", (8, 8))
    assert [p.name for p in list_images(folder, recursive=False)] == ["top.png"]
    assert sorted(p.name for p in list_images(folder, recursive=True)) == ["deep.png", "top.png"]


def test_sample_captions_are_nonempty_lines(square_folder):
    items = scan_concept(make_concept(square_folder), with_masks=False)
    assert len(items) == 6
    assert items[0].captions == ["caption 0 a", "caption 0 b"]


def test_missing_caption_file_gives_empty_prompt(tmp_path, make_config):
    write_image(tmp_path / "c" / "lonely.png", (32, 32))
    ds = TrainDataset(make_config(), [make_concept(tmp_path / "c")])
    ds.prepare()
    [batch] = list(ds.epoch(0, 1))
    assert batch.prompts == [""]


def test_sample_prompt_source_picks_lines_at_random(square_folder, make_config):
    concept = make_concept(square_folder, balancing=20.0)
    ds = TrainDataset(make_config(), [concept])
    ds.prepare()
    prompts = Counter(p for batch in ds.epoch(0, 4) for p in batch.prompts if p.startswith("caption 0"))
    assert set(prompts) == {"caption 0 a", "caption 0 b"}


def test_filename_and_concept_prompt_sources(square_folder, tmp_path, make_config):
    prompt_file = tmp_path / "prompts.txt"
    prompt_file.write_text("first prompt\n\n  second prompt  \n", encoding="utf-8")
    by_name = make_concept(square_folder, text={"prompt_source": "filename"})
    by_concept = make_concept(square_folder, text={"prompt_source": "concept", "prompt_path": str(prompt_file)})
    assert [i.captions for i in scan_concept(by_name, with_masks=False)][:2] == [["img0"], ["img1"]]
    assert scan_concept(by_concept, with_masks=False)[3].captions == ["first prompt", "second prompt"]

    ds = TrainDataset(make_config(), [by_name])
    ds.prepare()
    assert sorted(p for b in ds.epoch(0, 1) for p in b.prompts) == [f"img{i}" for i in range(6)]


def test_disabled_concepts_and_concept_types(square_folder, tmp_path, make_config):
    other = tmp_path / "other"
    for i in range(3):
        write_image(other / f"o{i}.png", (32, 32))
    standard = make_concept(square_folder)
    disabled = make_concept(other, enabled=False)
    validation = make_concept(other, type=ConceptType.VALIDATION)
    prior = make_concept(other, type=ConceptType.PRIOR_PREDICTION)
    concepts = [standard, disabled, validation, prior]

    train = TrainDataset(make_config(), concepts)
    train.prepare()
    assert len(train) == 6 + 3
    assert {t for b in train.epoch(0, 1) for t in b.concept_types} == {"STANDARD", "PRIOR_PREDICTION"}

    val = TrainDataset(make_config(), concepts, concept_type=ConceptType.VALIDATION)
    val.prepare()
    assert len(val) == 3
    assert {t for b in val.epoch(0, 1) for t in b.concept_types} == {"VALIDATION"}
