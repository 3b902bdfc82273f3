"""Conv2d + BatchNorm folded at inference equals the two modules."""
import pytest
import torch
from reference import randomize_
from torch import nn

from mmblvnet.models.backbones.blresnet import bLResNet
from mmblvnet.models.common.conv_bn import (
    ConvBNSequential,
    conv_bn,
    folded_weights,
)


def _conv_and_bn(affine=True, bias=False, groups=1):
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=bias, groups=groups)
    bn = nn.BatchNorm2d(6, affine=affine)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        if affine:
            bn.weight.uniform_(-2, 2)
            bn.bias.uniform_(-1, 1)
    return conv, bn.eval()


@pytest.mark.parametrize('affine,bias,groups', [(True, False, 1),
                                                (False, True, 2),
                                                (True, True, 2)])
def test_folded_conv_bn_equals_the_two_modules(affine, bias, groups):
    conv, bn = _conv_and_bn(affine, bias, groups)
    x = torch.randn(3, 4, 9, 9)
    with torch.no_grad():
        expected = bn(conv(x))
        got = conv_bn(conv, bn, x)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_training_and_autograd_run_the_modules_unchanged():
    conv, bn = _conv_and_bn()
    x = torch.randn(3, 4, 9, 9, requires_grad=True)
    out = conv_bn(conv, bn, x)  # autograd on: no folding
    torch.testing.assert_close(out, bn(conv(x)), atol=0, rtol=0)
    out.sum().backward()
    assert conv.weight.grad is not None and bn.weight.grad is not None
    bn.train()
    with torch.no_grad():
        conv_bn(conv, bn, x)
    assert bn.num_batches_tracked == 1  # training BN still updates stats


def test_hooks_still_see_both_modules():
    conv, bn = _conv_and_bn()
    seen = []
    bn.register_forward_hook(lambda module, args, out: seen.append(out))
    sequence = ConvBNSequential(conv, bn, nn.ReLU())
    with torch.no_grad():
        sequence(torch.randn(2, 4, 8, 8))
        conv_bn(conv, bn, torch.randn(2, 4, 8, 8))
    assert len(seen) == 2


def test_sequential_keeps_keys_and_output_of_nn_sequential():
    conv, bn = _conv_and_bn()
    layers = [conv, bn, nn.ReLU(), nn.Conv2d(6, 5, 1), nn.BatchNorm2d(5)]
    plain = nn.Sequential(*layers).eval()
    folded = ConvBNSequential(*layers).eval()
    assert list(folded.state_dict()) == list(plain.state_dict())
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), plain(x), atol=1e-5, rtol=1e-5)


def test_blresnet_inference_equals_eval_forward_with_autograd():
    model = randomize_(bLResNet(50, 4)).eval()
    x = torch.randn(8, 3, 64, 64)
    expected = model(x)  # autograd on: BatchNorm runs as a module
    with torch.inference_mode():
        got = model(x)
    scale = expected.abs().max().item()
    assert scale > 0.1
    torch.testing.assert_close(got, expected.detach(), atol=1e-5 * scale,
                               rtol=0)


def test_folded_weights_are_computed_once_and_reused():
    conv, bn = _conv_and_bn()
    x = torch.randn(2, 4, 8, 8)
    with torch.inference_mode():
        first = folded_weights(conv, bn)
        conv_bn(conv, bn, x, 'loop')
    with torch.no_grad():
        conv_bn(conv, bn, x, 'loop')
        assert folded_weights(conv, bn) is first


@pytest.mark.parametrize('change', ['in_place', 'load_state_dict',
                                    'train_step', 'new_parameter'])
def test_folded_weights_follow_every_change_of_the_modules(change):
    # Fails loudly if torch stops bumping a tensor's version counter on an
    # in-place change (the cache key): the folded output would go stale.
    conv, bn = _conv_and_bn()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        before = conv_bn(conv, bn, x, 'loop')
        if change == 'in_place':
            conv.weight.mul_(2)
        elif change == 'load_state_dict':
            bn.load_state_dict(_conv_and_bn()[1].state_dict())
        elif change == 'new_parameter':
            bn.bias = nn.Parameter(bn.bias + 1)
    if change == 'train_step':
        bn.train()
        conv_bn(conv, bn, x * 3 + 1, 'loop')  # updates running statistics
        bn.eval()
    with torch.no_grad():
        got = conv_bn(conv, bn, x, 'loop')
        expected = bn(conv(x))
    assert not torch.allclose(got, before, atol=1e-3)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
