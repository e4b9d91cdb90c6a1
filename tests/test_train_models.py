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


def test_the_occlusion_net_cuts_the_mask_and_models_without_one_still_load():
    torch.manual_seed(0)
    model = create("hires", size=64, occlusion=True)
    assert model.config() == {"size": 64, "occlusion": True}
    faces = torch.rand(2, 3, 64, 64)
    _, mask = model(faces, 1)
    _, shape = model.decode(model.encoder(faces), 1)  # the decoder's mask alone
    assert torch.allclose(mask, shape * torch.sigmoid(model.occlusion(faces)))
    assert flops_per_example(model) < 0.3 * flops_per_example(create("hires"))  # 64 px is for quick trials
    # model.json of a model from before occluders says {"size": 128}: it rebuilds without the net, weights fit.
    old = create("hires", size=128)
    assert old.occlusion is None and old.config() == {"size": 128, "occlusion": False}
    create("hires", **{"size": 128}).load_state_dict(old.state_dict())
