"""bfloat16 weights fine-tuned with stochastic rounding through the trainer, backed up and resumed."""
from __future__ import annotations

import torch

from engine.helpers import run_training


def test_trainer_fine_tunes_bfloat16_weights_with_rounding_and_resumes(make_config):
    """Through the trainer: the step wrapper with an LR scheduler, a backup of its float32 state, and a
    resumed run whose restored state (cast to the weights' bfloat16 by torch) steps again."""
    from modules.config.enums import DataType

    fields = dict(epochs=1, learning_rate=1e-4, text_encoder__train=False, unet__weight_dtype=DataType.BFLOAT_16,
                  train_dtype=DataType.BFLOAT_16, optimizer__stochastic_rounding=True, backup_before_save=True)
    first = run_training(make_config(method="FINE_TUNE", **fields))
    assert getattr(first.optimizer, 'rounds_stochastically', False)
    unet = first.model["unet"]
    assert {p.dtype for p in unet.parameters()} == {torch.bfloat16}
    state = first.optimizer.state[next(p for p in unet.parameters() if p.requires_grad)]
    assert state['exp_avg'].dtype == torch.float32
    weights = {k: v.clone() for k, v in unet.state_dict().items()}

    resumed = run_training(make_config(method="FINE_TUNE", **{**fields, "epochs": 2}, continue_last_backup=True))
    assert resumed.progress.epoch == 2 and len(resumed.loss_history) == 2
    trained = next(p for p in resumed.model["unet"].parameters() if p.requires_grad)
    restored = resumed.optimizer.state[trained]
    assert float(restored['step']) == 4 and restored['exp_avg'].dtype == torch.float32  # 2 steps, then 2 more
    after = resumed.model["unet"].state_dict()
    assert any(not torch.equal(weights[k], after[k]) for k in weights)
    assert all(torch.isfinite(v.float()).all() for v in after.values())
