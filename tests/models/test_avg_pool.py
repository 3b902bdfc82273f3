"""The depthwise-conv average pool equals nn.AvgPool2d."""
import pytest
import torch
from torch import nn

from mmblvnet.models.common.avg_pool import DepthwiseAvgPool2d


@pytest.mark.parametrize('size', [(2, 5, 8, 8), (1, 3, 7, 9)])
@pytest.mark.parametrize('channels_last', [False, True])
def test_depthwise_avg_pool_equals_avg_pool(size, channels_last):
    x = torch.randn(*size, requires_grad=True)
    leaf = x.detach().clone().requires_grad_()
    fast_input = leaf.to(memory_format=torch.channels_last
                         if channels_last else torch.contiguous_format)
    expected = nn.AvgPool2d(3, stride=2, padding=1)(x)
    got = DepthwiseAvgPool2d(3, stride=2, padding=1)(fast_input)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
    grad = torch.randn_like(expected)
    expected.backward(grad)
    got.backward(grad)
    torch.testing.assert_close(
        leaf.grad, x.grad, atol=1e-6, rtol=1e-6)


def test_depthwise_avg_pool_has_no_state():
    assert DepthwiseAvgPool2d(3, 2, 1).state_dict() == {}


def test_traced_pool_stays_avg_pool_for_flop_counting():
    pool = DepthwiseAvgPool2d(3, stride=2, padding=1)
    x = torch.randn(1, 4, 8, 8)
    traced = torch.jit.trace(pool, x)
    assert 'avg_pool2d' in str(traced.graph)
    assert 'conv' not in str(traced.graph)
    torch.testing.assert_close(traced(x), pool(x), atol=1e-6, rtol=1e-6)


def test_onnx_export_takes_the_depthwise_convolution(monkeypatch):
    # ONNX Runtime's int8 depthwise convolution is faster than its int8
    # average pool.
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    pool = DepthwiseAvgPool2d(3, stride=2, padding=1)
    x = torch.randn(1, 4, 8, 8)
    graph = str(torch.jit.trace(pool, x).graph)
    assert 'conv' in graph and 'avg_pool2d' not in graph
    torch.testing.assert_close(pool(x), nn.AvgPool2d(3, 2, 1)(x), atol=1e-6,
                               rtol=1e-6)
