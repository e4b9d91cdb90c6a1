"""Model registry and architectures: shapes, N identities, masks, and the FLOP counts the docs quote."""

from __future__ import annotations

import pytest
import torch

from swapcore.errors import SwapcoreError
from swapcore.models import ARCHITECTURES, UnknownArchitectureError, create, flops_per_example


def test_registry_lists_the_three_architectures():
    assert set(ARCHITECTURES) == {"original", "lite", "hires"}
    with pytest.raises(UnknownArchitectureError, match="original"):
        create("deepfacelab")


@pytest.mark.parametrize("name, size, has_mask", [("original", 64, False), ("lite", 64, False), ("hires", 128, True)])
def test_forward_shapes_with_three_identities(name, size, has_mask):
    model = create(name, identities=3)
    assert model.size == size and len(model.decoders) == 3
    faces = torch.rand(2, 3, size, size)
    for identity in range(3):
        rgb, mask = model(faces, identity)
        assert rgb.shape == (2, 3, size, size)
        assert (rgb >= 0).all() and (rgb <= 1).all()
        assert (mask is not None) == has_mask
        if has_mask:
            assert mask.shape == (2, 1, size, size)


def test_decoders_are_separate_and_the_encoder_shared():
    model = create("lite")
    faces = torch.rand(1, 3, 64, 64)
    assert not torch.equal(model(faces, 0)[0], model(faces, 1)[0])
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    for decoder in model.decoders:
        assert encoder_ids.isdisjoint(id(p) for p in decoder.parameters())


def test_flops_match_the_classic_figure_and_lite_is_far_cheaper():
    original = flops_per_example(create("original"))
    assert original == pytest.approx(11.4e9, rel=0.01)
    assert flops_per_example(create("lite")) < 0.3 * original
    assert flops_per_example(create("hires", size=256)) > flops_per_example(create("hires"))


def test_bad_sizes_are_refused_clearly():
    with pytest.raises(SwapcoreError, match="64 px"):
        create("original", size=128)
    with pytest.raises(SwapcoreError, match="128 or 256"):
        create("hires", size=192)
