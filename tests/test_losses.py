"""The user's formulas, checked against hand computations, and the normalisation's promises."""
import torch

from styletransfer.losses import (ContentLoss, GramStyleLoss, WassersteinStyleLoss, content_sum, gram_matrix,
                                  style_sum, tv_mean, tv_sum)


def test_gram_matches_hand_computation():
    # F has C=2 channels over 2 positions: F = [[1, 2], [3, 4]]
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    # G_ij = Σ_k F_ik F_jk
    assert torch.equal(gram_matrix(f)[0], torch.tensor([[5.0, 11.0], [11.0, 25.0]]))


def test_content_sum_matches_hand_computation():
    f = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    p = torch.tensor([0.0, 4.0, 3.5]).view(1, 3, 1, 1)
    assert content_sum(f, p).item() == 1.0 + 4.0 + 0.25


def test_style_sum_matches_hand_computation():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    a = torch.tensor([[4.0, 11.0], [10.0, 20.0]])
    # (5-4)² + (11-11)² + (11-10)² + (25-20)² = 1 + 0 + 1 + 25
    assert style_sum(f, a).item() == 27.0


def test_tv_matches_hand_computation():
    # one channel [[1, 2], [4, 8]]: vertical (4-1)² + (8-2)² = 45, horizontal (2-1)² + (8-4)² = 17
    x = torch.tensor([[1.0, 2.0], [4.0, 8.0]]).view(1, 1, 2, 2)
    assert tv_sum(x).item() == 62.0
    # summed over channels
    assert tv_sum(torch.cat([x, 2 * x], 1)).item() == 62.0 * 5
    # mean over the 4 neighbour pairs
    assert tv_mean(x).item() == 62.0 / 4


def test_tv_mean_of_noise_is_the_same_at_every_size():
    g = torch.Generator().manual_seed(0)
    small = tv_mean(torch.rand(1, 3, 64, 64, generator=g))
    large = tv_mean(torch.rand(1, 3, 512, 512, generator=g))
    assert abs(small / large - 1) < 0.05
    assert tv_mean(torch.full((1, 3, 32, 32), 0.3)).item() == 0.0


def test_content_loss_is_a_relative_error():
    p = torch.randn(1, 8, 5, 5)
    loss = ContentLoss(p)
    assert loss(p).item() == 0.0
    assert abs(loss(torch.zeros_like(p)).item() - 1.0) < 1e-6
    assert abs(loss(2 * p).item() - 1.0) < 1e-5


def test_gram_style_loss_does_not_depend_on_image_size():
    f = torch.rand(1, 16, 8, 8)
    loss = GramStyleLoss(GramStyleLoss.target_of(f))
    tiled = f.repeat(1, 1, 4, 4)  # the same texture over 16× the area
    assert loss(tiled).item() < 1e-10
    other = torch.rand(1, 16, 8, 8) ** 2
    assert abs(loss(other).item() - loss(other.repeat(1, 1, 3, 3)).item()) < 1e-5


def test_style_blend_averages_targets():
    a, b = torch.ones(1, 4, 4), torch.zeros(1, 4, 4)
    blended = GramStyleLoss.blend([a, b], [3.0, 1.0])
    assert torch.allclose(blended, torch.full((1, 4, 4), 0.75))


def test_wasserstein_loss_is_zero_at_target_and_has_finite_gradient():
    torch.manual_seed(0)
    f = torch.rand(1, 6, 7, 7)
    loss = WassersteinStyleLoss(WassersteinStyleLoss.target_of(f))
    assert abs(loss(f).item()) < 1e-4
    x = (torch.rand(1, 6, 7, 7) * 3).requires_grad_()
    value = loss(x)
    value.backward()
    assert value.item() > 0.01
    assert torch.isfinite(x.grad).all()


def test_gram_gradient_matches_autograd_of_the_plain_formula():
    f = torch.randn(1, 5, 4, 3, dtype=torch.float64)
    target = torch.randn(1, 5, 5, dtype=torch.float64)
    a = f.clone().requires_grad_()
    ((gram_matrix(a).double() - target) ** 2).sum().backward()
    b = f.clone().requires_grad_()
    fb = b.flatten(2)
    ((fb @ fb.transpose(1, 2) - target) ** 2).sum().backward()
    assert torch.allclose(a.grad, b.grad.to(a.grad.dtype), rtol=1e-4, atol=1e-6)


def test_gram_and_its_gradient_are_the_same_in_either_memory_format_and_the_gradient_keeps_it():
    f = torch.randn(1, 6, 5, 7)
    target = torch.randn(1, 6, 6)
    grads = {}
    for memory_format in (torch.contiguous_format, torch.channels_last):
        x = f.clone(memory_format=memory_format).requires_grad_()
        g = gram_matrix(x)
        ((g - target) ** 2).sum().backward()
        assert torch.allclose(g, gram_matrix(f), rtol=1e-5, atol=1e-5)
        assert x.grad.is_contiguous(memory_format=memory_format)  # no reorder for the convolution's backward
        grads[memory_format] = x.grad
    assert torch.allclose(grads[torch.contiguous_format], grads[torch.channels_last], rtol=1e-4, atol=1e-4)
