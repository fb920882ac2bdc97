"""Text encodings at each caption's own length: cut by a mask or a count, padded per batch."""

import torch

from modules.data.token_sequences import collated, own_tokens
from modules.families.base import TokenSequence

BY_MASK = TokenSequence(("states", "mask"), "mask")
BY_COUNT = TokenSequence(("states",), "count", padding=-1.0)


def _caption(tokens: int, length: int = 8) -> dict:
    mask = torch.zeros(length, dtype=torch.long)
    mask[:tokens] = 1
    states = torch.arange(1, length * 2 + 1, dtype=torch.float32).view(length, 2) * mask.unsqueeze(-1)
    return {"states": states, "mask": mask, "count": mask.sum(), "pooled": torch.ones(3)}


def test_a_caption_keeps_its_own_tokens_and_at_least_one_position():
    cut = own_tokens(_caption(3), [BY_MASK])
    assert cut["states"].shape == (3, 2) and cut["mask"].tolist() == [1, 1, 1]
    assert int(cut["count"]) == 3 and torch.equal(cut["pooled"], torch.ones(3))  # undeclared: as they were
    by_count = own_tokens(_caption(5), [BY_COUNT])
    assert by_count["states"].shape == (5, 2) and by_count["mask"].shape == (8,)
    empty = own_tokens(_caption(0), [BY_MASK])  # one masked position, as a batch cut to its longest keeps
    assert empty["states"].shape == (1, 2) and empty["mask"].tolist() == [0]
    without_length = own_tokens({"states": torch.ones(8, 2)}, [BY_MASK])  # its encoder left out
    assert without_length["states"].shape == (8, 2)


def test_a_batch_pads_to_its_longest_caption_with_the_declared_value():
    items = [own_tokens(_caption(n), [BY_MASK]) for n in (2, 5)]
    batch = collated(items, [BY_MASK])
    assert batch["states"].shape == (2, 5, 2) and batch["pooled"].shape == (2, 3)
    assert batch["mask"].tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert torch.equal(batch["states"], torch.stack([_caption(2)["states"][:5], _caption(5)["states"][:5]]))
    counted = collated([own_tokens(_caption(n), [BY_COUNT]) for n in (2, 5)], [BY_COUNT])
    assert counted["states"].shape == (2, 5, 2) and (counted["states"][0, 2:] == -1).all()
    assert counted["count"].tolist() == [2, 5]
    stacked = collated([_caption(2), _caption(5)], [])  # nothing declared: stacked as they are
    assert stacked["states"].shape == (2, 8, 2)
