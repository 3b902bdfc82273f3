"""SmallMapConv2d: the full convolution's outputs and gradients, with
taps that read only padding dropped and whole-map convolutions run as a
matrix product."""
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from mmblvnet.models.common.small_maps import SmallMapConv2d

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
    conv = SmallMapConv2d(8, 12, kernel, stride, padding, dilation,
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
    out = conv(x)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out, (x, conv.weight, conv.bias), grad_out)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref)


def _products(conv, x):
    """Whether ``conv(x)`` ran (a matrix product, a convolution)."""
    with mock.patch.object(F, 'linear', wraps=F.linear) as linear, \
            mock.patch.object(F, 'conv2d', wraps=F.conv2d) as conv2d:
        conv(x)
    return linear.called, conv2d.called


@pytest.mark.parametrize('size,stride,matrix_product', [
    (1, 1, True),  # the centre tap reads the whole map
    (2, 2, True),  # the lower-right 2x2 taps read the whole map
    (2, 1, False),  # four outputs: a convolution
])
def test_whole_map_convolution_runs_as_a_matrix_product(
        size, stride, matrix_product):
    conv, x = _conv_and_input(size, 3, stride, 1, 1, 1)
    assert _products(conv, x) == (matrix_product, not matrix_product)


def test_onnx_export_takes_the_plain_convolution(monkeypatch):
    # An exported graph does not depend on the frame size it was traced at.
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    conv, x = _conv_and_input(1, 3, 1, 1, 1, 1)
    assert _products(conv, x) == (False, True)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias,
                                                 padding=1))


def test_traced_convolution_is_the_plain_one_for_flop_counting():
    conv, x = _conv_and_input(1, 3, 1, 1, 1, 1)
    graph = str(torch.jit.trace(conv, x).inlined_graph)
    assert 'aten::_convolution' in graph and 'aten::linear' not in graph
