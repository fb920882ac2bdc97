"""The training-timestep distribution as a histogram, drawn with the trainer's own sampler."""
from __future__ import annotations

import numpy as np

TRAIN_TIMESTEPS = 1000
PREVIEW_SAMPLES = 1_000_000


def timestep_histogram(config, samples: int = PREVIEW_SAMPLES, seed: int | None = None) -> np.ndarray:
    """Counts per integer timestep (length TRAIN_TIMESTEPS) of `samples` draws.

    The draws come from the sampler training uses, so the preview cannot drift from what is trained.
    Dynamic timestep shifting depends on the image size and is not part of the preview.
    """
    import torch  # the UI imports no torch at start-up

    from modules.objectives import TimestepSampler

    generator = torch.Generator().manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
    timesteps = TimestepSampler(config, TRAIN_TIMESTEPS).sample(samples, generator)
    return np.bincount(timesteps.numpy(), minlength=TRAIN_TIMESTEPS)[:TRAIN_TIMESTEPS]


def histogram_figure(counts: np.ndarray) -> dict:
    """A Plotly bar chart (dict form) of the histogram."""
    return {
        'data': [{'type': 'bar', 'x': np.arange(len(counts)), 'y': counts, 'marker': {'line': {'width': 0}},
                  'hovertemplate': 'timestep %{x}: %{y}<extra></extra>'}],
        'layout': {'margin': {'l': 50, 'r': 10, 't': 10, 'b': 40}, 'bargap': 0, 'height': 360,
                   'xaxis': {'title': {'text': 'timestep'}, 'range': [0, len(counts)]},
                   'yaxis': {'title': {'text': 'count'}}},
    }
