"""benchmarks.tam_timing: TAM's share of a bLResNet's time."""
import pytest
import torch

from benchmarks.tam_timing import tam_time_share, timed_tam_calls
from mmblvnet.models.backbones.blresnet import bLResNet


def test_tam_timer_sees_every_tam_call_and_restores_methods():
    backbone = bLResNet(50, 4).eval()
    share = tam_time_share(
        backbone, torch.randn(8, 3, 32, 32), repeats=1, warmup=0)
    assert 0 < share < 1
    assert all('forward' not in vars(m) and 'forward_pairs' not in vars(m)
               for m in backbone.modules())


def test_timer_counts_tam_time_and_restores_methods_on_error():
    backbone = bLResNet(50, 4).eval()
    with pytest.raises(KeyError), torch.no_grad(), timed_tam_calls(
            backbone, torch.device('cpu')) as elapsed:
        backbone(torch.randn(8, 3, 32, 32))
        assert elapsed[0] > 0
        raise KeyError('stop')
    assert all('forward' not in vars(m) for m in backbone.modules())
