import torch

from fastnst.losses import content_loss, gram_matrix, style_loss, total_variation


def test_gram_of_constant_map():
    # Every entry is sum over H*W of a*b, divided by C*H*W.
    features = torch.full((1, 2, 3, 4), 2.0)
    expected = torch.full((1, 2, 2), 2.0 * 2.0 * 12 / (2 * 12))
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_hand_computed():
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # (1, C=2, H=1, W=2)
    # F = [[1, 2], [3, -1]]; F F^T = [[5, 1], [1, 10]]; / (2 * 1 * 2)
    expected = torch.tensor([[[5.0, 1.0], [1.0, 10.0]]]) / 4
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_of_tiled_map_equals_tile():
    tile = torch.randn(1, 3, 5, 7)
    tiled = tile.repeat(1, 1, 2, 2)
    assert torch.allclose(gram_matrix(tiled), gram_matrix(tile), atol=1e-5)


def test_content_loss_is_mse():
    a, b = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2) * 3
    assert content_loss(a, b).item() == 9.0
    assert content_loss(b, b).item() == 0.0


def test_style_loss_weights_layers():
    features = {"a": torch.ones(1, 1, 2, 2), "b": torch.zeros(1, 1, 2, 2)}
    # Gram of ones (1 channel, 4 px) = 4 / 4 = 1; Gram of zeros = 0.
    targets = {"a": torch.zeros(1, 1, 1), "b": torch.full((1, 1, 1), 2.0)}
    loss = style_loss(features, targets, {"a": 0.5, "b": 3.0})
    assert torch.isclose(loss, torch.tensor(0.5 * 1.0 + 3.0 * 4.0))


def test_style_loss_broadcasts_target_over_batch():
    features = {"a": torch.ones(3, 2, 4, 4)}
    target = gram_matrix(torch.ones(1, 2, 4, 4))
    assert style_loss(features, {"a": target}, {"a": 1.0}).item() == 0.0


def test_total_variation_known_values():
    assert total_variation(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0
    # Vertical stripes 0,1,0,1: every horizontal step is 1, vertical steps are 0.
    stripes = torch.tensor([0.0, 1.0, 0.0, 1.0]).repeat(1, 1, 4, 1)
    assert torch.isclose(total_variation(stripes), torch.tensor(1.0))
