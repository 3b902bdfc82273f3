"""DepthwiseAvgPool2d: nn.AvgPool2d in eager PyTorch, an equal depthwise
convolution in ONNX export."""
import pytest
import torch
from torch import nn

from mmblvnet.models.common.avg_pool import DepthwiseAvgPool2d


def _traced_graph(module, x):
    return str(torch.jit.trace(module, x).inlined_graph)


@pytest.mark.parametrize('size', [(2, 5, 8, 8), (1, 3, 7, 9)])
@pytest.mark.parametrize('channels_last', [False, True])
def test_export_form_equals_avg_pool(size, channels_last, monkeypatch):
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    x = torch.randn(*size, requires_grad=True)
    leaf = x.detach().clone().requires_grad_()
    fast_input = leaf.to(memory_format=torch.channels_last
                         if channels_last else torch.contiguous_format)
    pool = DepthwiseAvgPool2d(3, stride=2, padding=1)
    assert 'conv' in _traced_graph(pool, fast_input.detach())
    expected = nn.AvgPool2d(3, stride=2, padding=1)(x)
    got = pool(fast_input)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
    grad = torch.randn_like(expected)
    expected.backward(grad)
    got.backward(grad)
    torch.testing.assert_close(
        leaf.grad, x.grad, atol=1e-6, rtol=1e-6)


def test_depthwise_avg_pool_has_no_state():
    assert DepthwiseAvgPool2d(3, 2, 1).state_dict() == {}


def test_eager_pool_is_avg_pool_for_flop_counting():
    pool = DepthwiseAvgPool2d(3, stride=2, padding=1)
    graph = _traced_graph(pool, torch.randn(1, 4, 8, 8))
    assert 'avg_pool2d' in graph and 'conv' not in graph
