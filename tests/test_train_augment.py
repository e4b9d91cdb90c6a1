"""Augmentation, losses and data loading of the training stage: geometry, masks, weights, colour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from swapcore.faces.align import template
from swapcore.media import write_image
from swapcore.training import augment as aug
from swapcore.training.data import FaceDataError, holdout_indices, load_faces
from swapcore.training.losses import LossSpecError, parse_spec, reconstruction_loss, ssim_map

SIZE = 64


def _faces(count: int = 3, seed: int = 0) -> torch.Tensor:
    """Smooth but asymmetric test images: a gradient plus a bright square off-centre."""
    generator = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 200, SIZE)
    images = ramp.view(1, 1, 1, -1).expand(count, 3, SIZE, SIZE).clone()
    images[:, :, 10:20, 40:52] = 255
    images += torch.rand(count, 3, 1, 1, generator=generator) * 40
    return images.clamp(0, 255).byte()


def _landmarks(count: int = 3) -> torch.Tensor:
    return torch.tensor(template(SIZE), dtype=torch.float32).expand(count, 5, 2).clone()


def _flip_only(count: int, warp: float = 0.0) -> aug.AugmentParams:
    params = aug.identity_params(count)
    params.theta[:, 0, 0] = -1.0
    params.warp = torch.randn(count, 2, aug.WARP_POINTS, aug.WARP_POINTS) * warp
    return params


def test_identity_params_leave_faces_unchanged():
    images, landmarks = _faces(), _landmarks()
    batch = aug.augment(images, landmarks, aug.identity_params(3), aug.AugmentConfig())
    expected = images.float() / 255
    assert torch.allclose(batch.targets, expected, atol=1e-5)
    assert torch.allclose(batch.inputs, expected, atol=1e-5)


def test_warp_changes_the_input_only():
    images, landmarks = _faces(), _landmarks()
    config = aug.AugmentConfig()
    params = aug.identity_params(3)
    params.warp = torch.randn(3, 2, aug.WARP_POINTS, aug.WARP_POINTS, generator=torch.Generator().manual_seed(1)) * 0.05
    batch = aug.augment(images, landmarks, params, config)
    assert torch.allclose(batch.targets, images.float() / 255, atol=1e-5), "the target must stay unwarped"
    assert (batch.inputs - batch.targets).abs().mean() > 0.01, "the input must be warped"
    plain = aug.augment(images, landmarks, aug.identity_params(3), config)
    assert torch.equal(batch.masks, plain.masks) and torch.equal(batch.weights, plain.weights)


def test_flip_mirrors_image_mask_weights_and_landmarks_together():
    images, landmarks = _faces(), _landmarks()
    config = aug.AugmentConfig()
    flipped = aug.augment(images, landmarks, _flip_only(3, warp=0.05), config)
    plain = aug.augment(images, landmarks, aug.identity_params(3), config)
    assert torch.allclose(flipped.targets, plain.targets.flip(-1), atol=1e-5)
    assert (flipped.masks - plain.masks.flip(-1)).abs().max() < 0.05
    assert (flipped.weights != plain.weights.flip(-1)).float().mean() < 0.01
    moved = aug.transform_landmarks(landmarks, _flip_only(3).theta, SIZE)
    assert torch.allclose(moved[..., 0], SIZE - 1 - landmarks[..., 0], atol=1e-4)
    assert torch.allclose(moved[..., 1], landmarks[..., 1], atol=1e-4)


def test_rotation_moves_landmarks_with_the_image():
    """A bright dot drawn at the left eye must land where the transformed landmark says."""
    landmarks = _landmarks(1)
    image = torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8)
    x, y = landmarks[0, 0].round().long().tolist()
    image[..., y - 1 : y + 2, x - 1 : x + 2] = 255
    params = aug.identity_params(1)
    angle = math.radians(10)
    params.theta[0, :, :2] = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    params.theta[0, :, 2] = torch.tensor([0.05, -0.05])
    batch = aug.augment(image, landmarks, params, aug.AugmentConfig())
    brightness = batch.targets[0].mean(0)
    peak = divmod(int(brightness.argmax()), SIZE)
    moved = aug.transform_landmarks(landmarks, params.theta, SIZE)[0, 0]
    assert abs(peak[1] - moved[0]) <= 1.5 and abs(peak[0] - moved[1]) <= 1.5


def test_region_weights_mark_eyes_and_mouth():
    landmarks = _landmarks(1)
    weights = aug.region_weights(landmarks, SIZE, aug.AugmentConfig())[0, 0]
    for eye in landmarks[0, :2].round().long():
        assert weights[eye[1], eye[0]] == 3
    mouth = landmarks[0, 3:].mean(0).round().long()
    assert weights[mouth[1], mouth[0]] == 2
    assert weights[2, 2] == 1 and weights[SIZE - 3, SIZE - 3] == 1
    assert set(weights.unique().tolist()) == {1.0, 2.0, 3.0}


def test_face_mask_covers_the_face_not_the_corners():
    landmarks = _landmarks(1)
    mask = aug.face_mask(landmarks, SIZE)[0, 0]
    nose = landmarks[0, 2].round().long()
    assert mask[nose[1], nose[0]] == 1
    assert mask[0, 0] == 0 and mask[0, SIZE - 1] == 0
    assert 0.25 < mask.mean() < 0.9


def test_colour_jitter_round_trip_and_direction():
    rgb = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(aug.lab_to_rgb(aug.rgb_to_lab(rgb)), rgb, atol=1e-3)
    lighter = aug.jitter_colour(rgb, torch.tensor([[0.3, 0.0, 0.0], [-0.3, 0.0, 0.0]]))
    lightness = aug.rgb_to_lab(lighter)[:, 0].mean((1, 2)) - aug.rgb_to_lab(rgb)[:, 0].mean((1, 2))
    assert lightness[0] > 5 and lightness[1] < -5


def test_random_draws_stay_in_range_and_are_reproducible():
    config = aug.AugmentConfig()
    first = aug.draw(256, config, torch.Generator().manual_seed(3))
    second = aug.draw(256, config, torch.Generator().manual_seed(3))
    assert torch.equal(first.theta, second.theta) and torch.equal(first.warp, second.warp)
    scale = first.theta[:, :, :2].det().abs().sqrt()  # 1 / zoom
    assert ((1 / scale - 1).abs() <= config.zoom + 1e-6).all()
    flips = (first.theta[:, :, :2].det() < 0).float().mean()
    assert 0.3 < flips < 0.7
    assert (first.colour.abs() <= torch.tensor([config.lightness, config.chroma, config.chroma])).all()


def test_occluders_are_pasted_on_input_and_target_and_left_out_of_mask_and_loss():
    images, landmarks = _faces(4), _landmarks(4)
    config = aug.AugmentConfig(occluders=1.0)
    params = aug.identity_params(4)
    params.occluders = aug.draw_occluders(4, 1.0, torch.Generator().manual_seed(5))
    batch = aug.augment(images, landmarks, params, config)
    plain = aug.augment(images, landmarks, aug.identity_params(4), config)
    alpha = aug.occluder_alpha(landmarks, params.occluders, SIZE)
    covered, clear = alpha > 0.99, alpha < 0.01
    assert covered.flatten(1).any(1).all(), "every face got an occluder"
    assert batch.masks[covered].max() < 0.02 and batch.weights[covered].max() < 0.05
    assert torch.allclose(batch.masks[clear], plain.masks[clear], atol=0.02)
    assert torch.allclose(batch.weights[clear], plain.weights[clear], atol=0.05)
    # The occluder is in the image the model sees and in its target (no warp here: the two are alike).
    changed = (batch.targets - plain.targets).abs().amax(1, keepdim=True)
    assert torch.allclose(batch.inputs, batch.targets, atol=1e-5)
    assert changed[clear].max() < 0.01 and changed[covered].mean() > 0.02
    # The patch is cut from another face of the batch, never from the face itself.
    assert (params.occluders.donor != torch.arange(4)).all()


def test_occluders_cover_about_their_share_and_leave_the_random_stream_alone_when_off():
    drawn = aug.draw(400, aug.AugmentConfig(occluders=0.5), torch.Generator().manual_seed(2))
    assert 0.4 < drawn.occluders.on.float().mean() < 0.6
    off = aug.draw(16, aug.AugmentConfig(occluders=0.0), torch.Generator().manual_seed(2))
    before = aug.draw(16, aug.AugmentConfig(occluders=0.5), torch.Generator().manual_seed(2))
    assert off.occluders is None and torch.equal(off.theta, before.theta) and torch.equal(off.colour, before.colour)


def test_losses_weighting_and_spec():
    target = torch.rand(2, 3, 16, 16)
    assert torch.allclose(ssim_map(target, target), torch.ones(2, 1, 16, 16), atol=1e-4)
    terms = parse_spec("ssim+l1")
    weights = torch.ones(2, 1, 16, 16)
    noisy = (target + 0.2 * torch.randn_like(target)).clamp(0, 1)
    assert (reconstruction_loss(target, target, weights, terms) < 1e-4).all()
    assert (reconstruction_loss(noisy, target, weights, terms) > 0.05).all()
    # error only where the weight is high counts for more
    corner = target.clone()
    corner[..., :4, :4] = 1 - corner[..., :4, :4]
    heavy = weights.clone()
    heavy[..., :4, :4] = 3
    assert (reconstruction_loss(corner, target, heavy, terms) > reconstruction_loss(corner, target, weights, terms)).all()
    with pytest.raises(LossSpecError):
        parse_spec("ssim+perceptual")


def test_plain_folder_uses_template_landmarks_and_holds_out_fixed_faces(tmp_path):
    for index in range(14):
        face = np.full((96, 96, 3), index * 10, np.uint8)
        write_image(tmp_path / f"face_{index:03d}.png", face)
    faces = load_faces(tmp_path, SIZE, holdout=4)
    assert faces.images.shape == (14, 3, SIZE, SIZE) and faces.images.dtype == torch.uint8
    assert torch.allclose(faces.landmarks[0], torch.tensor(template(SIZE), dtype=torch.float32), atol=1e-4)
    assert faces.holdout.tolist() == holdout_indices(14, 4).tolist()
    assert set(faces.holdout.tolist()).isdisjoint(faces.train.tolist())
    assert len(faces.train) + len(faces.holdout) == 14
    (tmp_path / "face_000.png").write_bytes(b"not a png")
    with pytest.raises(FaceDataError, match="face_000.png"):
        load_faces(tmp_path, SIZE)


def test_extracted_folder_uses_its_alignments(training_faces):
    faces = load_faces(training_faces[0], SIZE)
    assert len(faces) >= 20
    # real landmarks differ from the template by a little, never by a lot
    offsets = (faces.landmarks - torch.tensor(template(SIZE), dtype=torch.float32)).norm(dim=-1)
    assert offsets.max() > 0.05 and offsets.mean() < 6
