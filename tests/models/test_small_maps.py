"""small_maps.conv2d: the full convolution's outputs and gradients, with
taps that read only padding dropped and whole-map convolutions run as a
matrix product."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.profiling import OpCounter
from mmblvnet.models.common.conv_bn import conv_bn
from mmblvnet.models.common.small_maps import conv2d

# (map size, kernel, stride, padding, dilation, groups)
CASES = [
    (1, 3, 1, 1, 1, 1),  # last stage at 32x32: the centre tap
    (2, 3, 2, 1, 1, 1),  # strided block at 32x32: lower-right taps
    (1, 1, 1, 0, 1, 1),  # 1x1 conv on a 1x1 map
    (1, 1, 2, 0, 1, 1),  # strided 1x1 conv on a 1x1 map
    (2, 3, 1, 1, 1, 1),  # every tap reads the map: unchanged
    (1, 7, 2, 3, 1, 1),  # stem kernel on a 1x1 map
    (3, 7, 2, 3, 1, 1),
    (2, 3, 1, 2, 2, 1),  # dilated
    (1, 3, 1, 1, 1, 4),  # grouped
    (1, 3, 1, 2, 1, 1),  # padding wider than the kernel's reach
    (4, 3, 2, 1, 1, 1),
    (5, 3, 1, 1, 1, 1),  # large enough: the plain convolution
]


def _conv_and_input(size, kernel, stride, padding, dilation, groups):
    conv = nn.Conv2d(8, 12, kernel, stride, padding, dilation,
                     groups).double()
    x = torch.randn(3, 8, size, size + 1 if size > 2 else size,
                    dtype=torch.double)
    return conv, x


@pytest.mark.parametrize('case', CASES)
def test_same_outputs_and_gradients(case):
    conv, x = _conv_and_input(*case)
    x_ref = x.clone().requires_grad_()
    x.requires_grad_()
    expected = F.conv2d(x_ref, conv.weight, conv.bias, conv.stride,
                        conv.padding, conv.dilation, conv.groups)
    grad_out = torch.randn_like(expected)
    ref_grads = torch.autograd.grad(expected, (x_ref, conv.weight, conv.bias),
                                    grad_out)
    out = conv2d(conv, x)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out, (x, conv.weight, conv.bias), grad_out)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref)


def test_given_weight_and_bias_replace_the_modules():
    conv, x = _conv_and_input(1, 3, 1, 1, 1, 1)
    weight, bias = torch.randn_like(conv.weight), torch.randn_like(conv.bias)
    torch.testing.assert_close(
        conv2d(conv, x, weight, bias),
        F.conv2d(x, weight, bias, padding=1))


@pytest.mark.parametrize('size,stride,expected', [
    (1, 1, 'aten.addmm'),  # the centre tap reads the whole map
    (2, 2, 'aten.addmm'),  # the lower-right 2x2 taps read the whole map
    (2, 1, 'aten.convolution'),  # four outputs: a convolution
])
def test_whole_map_convolution_runs_as_a_matrix_product(
        size, stride, expected):
    conv, x = _conv_and_input(size, 3, stride, 1, 1, 1)
    with torch.no_grad(), OpCounter() as ops:
        conv2d(conv, x)
    assert any(name.startswith(expected) for name in ops.counts), ops.counts
    if expected == 'aten.addmm':
        assert not any('convolution' in name for name in ops.counts)


def test_string_padding_runs_the_plain_convolution():
    conv = nn.Conv2d(4, 4, 3, padding='same').double()
    x = torch.randn(1, 4, 1, 1, dtype=torch.double)
    torch.testing.assert_close(conv2d(conv, x), conv(x))


def test_conv_bn_training_step_matches_the_modules():
    """conv_bn on the CPU loop path (training, a 1x1 map) uses small-map
    convolutions and gives the modules' outputs, gradients and BatchNorm
    statistics."""
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, padding=1, bias=False).double()
    bn = nn.BatchNorm2d(8).double()
    x = torch.randn(4, 8, 1, 1, dtype=torch.double)
    state = {k: v.clone() for k, v in bn.state_dict().items()}
    out = conv_bn(conv, bn, x, impl='loop')
    out.square().sum().backward()
    grad, running_var = conv.weight.grad.clone(), bn.running_var.clone()
    conv.weight.grad = None
    bn.load_state_dict(state)
    expected = bn(conv(x))
    expected.square().sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, conv.weight.grad)
    torch.testing.assert_close(running_var, bn.running_var)
