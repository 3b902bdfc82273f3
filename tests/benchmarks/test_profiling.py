"""benchmarks.profiling: the measurements behind benchmarks and study."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import DEMO
from mmaction.registry import MODELS
from mmengine.config import Config

from benchmarks.profiling import (
    LiveStorageTracker,
    OpCounter,
    TrainStep,
    interleaved_medians,
    train_peak_bytes,
)

MIB = 2**20


def test_tracker_peak_on_a_known_allocation_pattern():
    with LiveStorageTracker() as tracker:
        a = torch.empty(MIB, dtype=torch.uint8)
        b = torch.zeros(2 * MIB, dtype=torch.uint8)
        view = b.view(2, -1)  # views and in-place ops allocate nothing
        b.add_(1)
        view.mul_(2)
        del a
        c = torch.ones(MIB // 2, dtype=torch.uint8)
        assert tracker.live_bytes == 2 * MIB + MIB // 2
        del b, view, c
        assert tracker.live_bytes == 0
    assert tracker.peak_bytes == 3 * MIB


def test_tracker_counts_tracked_state_and_backward():
    x = torch.ones(MIB // 4, requires_grad=True)  # 1 MiB of float32
    with LiveStorageTracker() as tracker:
        tracker.track([x, x.view(2, -1)])  # one storage, counted once
        assert tracker.live_bytes == MIB
        y = x.exp()  # saved for backward
        y.sum().backward()  # + the gradient (two scalars on the way)
        del y
        assert tracker.live_bytes == 2 * MIB  # x and x.grad
        x.grad = None
        assert tracker.live_bytes == MIB
    assert 3 * MIB <= tracker.peak_bytes <= 3 * MIB + 64


def test_tracker_counts_resized_storages():
    with LiveStorageTracker() as tracker:
        grown = torch.empty(0)
        grown.resize_(1000)
        assert tracker.live_bytes == 4000


def test_interleaved_medians_take_turns_and_return_medians():
    calls = []
    runs = {name: (lambda name=name: calls.append(name)) for name in 'ab'}
    medians = interleaved_medians(runs, repeats=3, warmup=1,
                                  device=torch.device('cpu'))
    assert calls == ['a', 'b'] + ['a', 'b'] * 3
    assert set(medians) == {'a', 'b'} and min(medians.values()) >= 0


def test_train_step_peak_covers_state_and_activations():
    cfg = Config.fromfile(str(DEMO))
    model = MODELS.build(cfg.model)
    step = TrainStep(model, torch.randn(2, 8, 3, 32, 32), num_classes=6)
    before = [p.detach().clone() for p in model.parameters()]
    step()
    assert any(not torch.equal(b, p) for b, p in
               zip(before, model.parameters()))  # SGD changed weights
    assert all(p.grad is None for p in model.parameters())
    params = sum(p.numel() * 4 for p in model.parameters())
    peak = train_peak_bytes(step)
    # weights + momentum + gradients at least, plus activations
    assert peak > 3 * params
    assert peak < 3 * params + 400 * MIB


# Run in a fresh interpreter, as os_peak_bytes is meant to be: in a
# process that already freed big blocks, glibc raises its mmap threshold
# and serves the next 64 MiB from heap pages that are resident already.
_OS_PEAK_PROBE = """
import torch
from benchmarks.profiling import os_peak_bytes, resident_bytes
MIB = 2**20

def step():
    block = torch.ones(64 * MIB // 4)  # 64 MiB, touched, then freed
    del block

peak = os_peak_bytes(step, torch.device('cpu'))
keep = torch.ones(32 * MIB // 4)
earlier = resident_bytes() - 32 * MIB
print(peak, os_peak_bytes(step, torch.device('cpu'), earlier))
"""


@pytest.mark.skipif(not Path('/proc/self/clear_refs').exists(),
                    reason='needs Linux /proc')
def test_os_peak_sees_memory_freed_before_the_step_returns():
    result = subprocess.run([sys.executable, '-c', _OS_PEAK_PROBE],
                            capture_output=True, text=True, timeout=120,
                            check=True)
    peak, from_earlier = map(int, result.stdout.split())
    assert 60 * MIB < peak < 200 * MIB
    # From an earlier baseline, what became resident since counts too.
    assert from_earlier > peak + 16 * MIB


def test_op_counter_counts_every_dispatched_op():
    x = torch.ones(3)
    with OpCounter() as ops:
        y = (x + 1).relu_()
        y[1:].mul_(2)
    assert ops.counts['aten.add.Tensor'] == 1
    assert ops.counts['aten.relu_.default'] == 1
    assert ops.counts['aten.slice.Tensor'] == 1
    assert ops.total == 4
