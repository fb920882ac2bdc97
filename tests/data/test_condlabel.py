"""Custom inpainting conditioning images (`<stem>-condlabel.png`) for mask-input model types."""

import torch

from modules.data import TrainDataset

from .conftest import make_concept, write_image, write_mask


def folder_with_condlabels(tmp_path):
    folder = tmp_path / "inpaint"
    for i in range(2):
        write_image(folder / f"img{i}.png", (48, 32), seed=i)
        write_mask(folder / f"img{i}-masklabel.png", (48, 32), (0, 0, 24, 32))
    write_image(folder / "img0-condlabel.png", (48, 32), seed=99)  # img1 has none
    return folder


def prepared(config, folder, **image) -> TrainDataset:
    ds = TrainDataset(config, [make_concept(folder, image=image)], with_masks=True)
    ds.prepare()
    return ds


def batches(config, folder, **image):
    return {b.image_paths[0].rsplit("/", 1)[-1]: b for b in prepared(config, folder, **image).epoch(0, 1)}


def test_condlabel_images_follow_the_image_through_crop_and_flip(tmp_path, make_config):
    from modules.data import image_ops

    folder = folder_with_condlabels(tmp_path)
    config = make_config(model_type="STABLE_DIFFUSION_15_INPAINTING", custom_conditioning_image=True,
                         resolution="48x32")
    plain = batches(config, folder)
    assert len(plain) == 2  # the -condlabel file is a side file, not a training image
    expected = image_ops.load_image(folder / "img0-condlabel.png") * 2 - 1
    assert torch.allclose(plain["img0.png"].conditioning_pixels[0], expected, atol=1e-6)
    # a batch without -condlabel files leaves the conditioning image to the family (the masked image) ...
    assert plain["img1.png"].conditioning_pixels is None
    # ... and in a batch with some, the others get the masked image
    (both,) = prepared(config, folder).epoch(0, 2)
    row = both.image_paths.index(str(folder / "img1.png"))
    assert torch.equal(both.conditioning_pixels[row], both.pixels[row] * (1 - both.masks[row]))
    assert torch.allclose(both.conditioning_pixels[1 - row], expected, atol=1e-6)

    flipped = batches(config, folder, enable_fixed_flip=True, enable_fixed_brightness=True,
                      random_brightness_max_strength=0.2)
    got = flipped["img0.png"].conditioning_pixels[0]
    assert torch.allclose(got, (image_ops.adjust_brightness((expected + 1) / 2, 1.2) * 2 - 1).flip(-1), atol=1e-5)


def test_condlabel_images_only_when_asked_and_for_mask_input_models(tmp_path, make_config):
    folder = folder_with_condlabels(tmp_path)
    off = make_config(model_type="STABLE_DIFFUSION_15_INPAINTING", custom_conditioning_image=False)
    plain_model = make_config(model_type="STABLE_DIFFUSION_15", custom_conditioning_image=True)
    for config in (off, plain_model):
        assert all(b.conditioning_pixels is None for b in batches(config, folder).values())
