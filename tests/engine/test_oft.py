"""OFT (peft_type OFT_2): starts as the base model, trains, saves `oft_R.weight` tensors and continues."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.helpers import deterministic_loss


def test_oft_trains_saves_and_the_file_continues_training(make_config):
    from modules.config.enums import PeftType
    from modules.engine import create_trainer

    base = create_trainer(make_config(epochs=1, peft_type=PeftType.LORA, text_encoder__train=False))
    base.start()  # a fresh LoRA is the identity, so its loss is the base model's
    base_loss = deterministic_loss(base)

    cfg = make_config(epochs=2, learning_rate=1e-2, peft_type=PeftType.OFT_2, oft_block_size=8)
    trainer = create_trainer(cfg)
    trainer.start()
    assert deterministic_loss(trainer) == pytest.approx(base_loss, rel=1e-5)  # a fresh rotation changes nothing
    unet = dict(trainer.model["unet"].named_modules())
    adapted = [name for name in trainer.model.adapters["unet"].target_modules]
    assert adapted and all(not isinstance(unet[n], torch.nn.Conv2d) or unet[n].kernel_size == (1, 1)
                           for n in adapted)
    trainer.train()
    trained_loss = deterministic_loss(trainer)
    trainer.end()
    assert len(trainer.loss_history) == 4
    assert all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    assert trained_loss != pytest.approx(base_loss, rel=1e-4)

    keys = load_file(cfg.output_model_destination)
    assert keys and all(k.endswith(".oft_R.weight") for k in keys)  # an orthogonal rotation has no alpha
    assert any(k.startswith("lora_te_") for k in keys) and any(k.startswith("lora_unet_") for k in keys)

    again = create_trainer(make_config(epochs=1, peft_type=PeftType.OFT_2, oft_block_size=8,
                                       lora_model_name=cfg.output_model_destination))
    again.start()
    assert deterministic_loss(again) == pytest.approx(trained_loss, rel=1e-4)


def test_scaled_oft_is_refused_before_training(make_config):
    from modules.config.enums import PeftType
    from modules.engine import create_trainer

    trainer = create_trainer(make_config(epochs=1, peft_type=PeftType.OFT_2, oft_scaled=True))
    with pytest.raises(ValueError, match="oft_scaled"):
        trainer.start()
    assert not trainer.loss_history
