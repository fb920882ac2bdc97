"""Text encodings cached at each caption's own length: cut to the caption's tokens before they are
written, padded to the batch's longest caption when a batch is assembled. The family facts'
`token_sequences` say which tensors and with what value they pad."""

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence


def caption_length(length: Tensor) -> int:
    """One caption's token count, from its mask (up to the last nonzero position) or its count; at least
    one, so that a batch of empty captions keeps the one masked position a full-length encoding cut to
    its longest caption keeps."""
    if length.ndim == 0:
        count = int(length)
    else:
        kept = torch.nonzero(length.reshape(-1)).flatten()
        count = int(kept[-1]) + 1 if kept.numel() else 0
    return max(count, 1)


def own_tokens(tensors: dict[str, Tensor], sequences: Sequence) -> dict[str, Tensor]:
    """One caption's encoding with each declared sequence cut to the caption's tokens (views: clone
    before saving). A sequence whose length entry is missing (its encoder left out) stays as it is."""
    out = dict(tensors)
    for sequence in sequences:
        if sequence.length not in tensors:
            continue
        count = caption_length(tensors[sequence.length])
        for key in sequence.keys:
            if key in tensors:
                out[key] = tensors[key][:count]
    return out


def collated(items: list[dict[str, Tensor]], sequences: Sequence) -> dict[str, Tensor]:
    """A batch's encodings stacked per key, each declared sequence padded to the batch's longest (an
    entry cached before the cut, at the full length, pads the others to that length: the same values
    past each caption's tokens as a full-length encoding has)."""
    padding = {key: sequence.padding for sequence in sequences for key in sequence.keys}
    return {key: _stacked([item[key] for item in items], padding.get(key)) for key in items[0]}


def _stacked(values: list[Tensor], padding: float | None) -> Tensor:
    # captions of one length (often the whole batch) need no padding: a plain stack costs a fraction
    if padding is None or all(v.shape == values[0].shape for v in values):
        return torch.stack(values)
    return pad_sequence(values, batch_first=True, padding_value=padding)
