"""Execution paths used for speed give the numbers of the plain path:
channels_last memory format, gradient checkpointing and torch.compile;
a forward dispatches a number of ops that does not grow with the batch."""
import shutil

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.hub import get_config
from reference import randomize_

from benchmarks.profiling import LiveStorageTracker, OpCounter
from mmblvnet.models.backbones.blresnet import bLResNet

TSM_CONFIG = ('mmaction::recognition/tsm/'
              'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py')


def forward_backward(model, x):
    """Output, input gradient and parameter gradients of a fixed loss."""
    x = x.detach().clone().requires_grad_()
    out = model(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype)
    (out * weights.view_as(out)).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return out, x.grad, grads


def test_channels_last_matches_contiguous_in_eval():
    model = randomize_(bLResNet(50, 4)).eval()
    x = torch.randn(8, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        out = model.to(memory_format=torch.channels_last)(
            x.to(memory_format=torch.channels_last))
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_channels_last_matches_contiguous_gradients_in_train_mode():
    # Batch statistics amplify float32 rounding: compare in float64.
    plain = randomize_(bLResNet(50, 4)).double().train()
    fast = randomize_(bLResNet(50, 4)).double().train().to(
        memory_format=torch.channels_last)
    x = torch.randn(8, 3, 64, 64, dtype=torch.float64)
    expected = forward_backward(plain, x)
    got = forward_backward(fast, x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got[:2], expected[:2], atol=1e-8, rtol=1e-8)
    for name, grad in expected[2].items():
        torch.testing.assert_close(
            got[2][name], grad, atol=1e-8, rtol=1e-8, msg=name)


@pytest.mark.parametrize('options', [
    dict(stem_with_cp=True),
    dict(with_cp=True),
    dict(with_cp=True, stem_with_cp=True),
])
def test_checkpointing_matches_plain_outputs_gradients_and_bn_stats(options):
    plain = randomize_(bLResNet(50, 4, stem_with_cp=False)).train()
    options = {'stem_with_cp': False, **options}
    checkpointed = randomize_(bLResNet(50, 4, **options)).train()
    x = torch.randn(8, 3, 64, 64)
    expected = forward_backward(plain, x)
    got = forward_backward(checkpointed, x)
    torch.testing.assert_close(got[:2], expected[:2], atol=0, rtol=0)
    assert all(grad is not None for grad in expected[2].values())
    for name, grad in expected[2].items():
        torch.testing.assert_close(
            got[2][name], grad, atol=0, rtol=0, msg=name)
    # The recomputation in backward must not update the statistics again.
    buffers = dict(checkpointed.named_buffers())
    assert buffers['bn1.num_batches_tracked'] == 1
    for name, value in plain.named_buffers():
        torch.testing.assert_close(buffers[name], value, msg=name)


def test_stem_with_cp_keeps_a_quarter_less_for_backward():
    saved = {}
    for stem_with_cp in (False, True):
        model = randomize_(bLResNet(50, 4, stem_with_cp=stem_with_cp))
        with LiveStorageTracker() as tracker:
            out = model(torch.randn(8, 3, 64, 64))
            saved[stem_with_cp] = tracker.live_bytes
        out.sum().backward()
    assert saved[True] < 0.75 * saved[False]


def test_backbone_compiles_to_one_graph_for_inference():
    torch._dynamo.reset()
    model = randomize_(bLResNet(50, 4)).eval()
    x = torch.randn(8, 3, 32, 32)
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(compiled(x), expected, atol=1e-5, rtol=0)


def assert_same_training_step(eager, compiled_twin, compiled, x, tolerance):
    """Outputs, input and parameter gradients and BatchNorm statistics of
    one training step agree between a model and its compiled twin."""
    expected = forward_backward(eager, x)
    got = forward_backward(compiled, x)
    # The compiled wrapper prefixes parameter names: read the twin's.
    got = (*got[:2], {n: p.grad for n, p in compiled_twin.named_parameters()})
    scale = float(expected[0].abs().max())
    torch.testing.assert_close(
        got[0], expected[0], atol=tolerance * scale, rtol=0)
    for name, grad in [('input', expected[1]), *expected[2].items()]:
        other = got[1] if name == 'input' else got[2][name]
        assert other is not None, name
        torch.testing.assert_close(
            other, grad, atol=tolerance * float(grad.abs().max()), rtol=0,
            msg=name)
    buffers = dict(compiled_twin.named_buffers())
    for name, value in eager.named_buffers():
        torch.testing.assert_close(buffers[name], value, msg=name)


def test_compiled_training_step_has_the_eager_outputs_and_gradients():
    # Batch statistics amplify float32 rounding: compare in float64. With
    # randomized weights gradients reach 1e7, and the two graphs sum them in
    # different orders: 1.2e-9 of the largest gradient was seen.
    torch._dynamo.reset()
    eager = randomize_(bLResNet(50, 4)).double().train()
    twin = randomize_(bLResNet(50, 4)).double().train()
    compiled = torch.compile(twin, backend='aot_eager', fullgraph=True)
    assert_same_training_step(eager, twin, compiled,
                              torch.randn(8, 3, 32, 32, dtype=torch.float64),
                              1e-7)


def test_compiled_checkpointing_updates_bn_stats_once():
    torch._dynamo.reset()
    model = randomize_(bLResNet(50, 4, with_cp=True)).train()
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    compiled(torch.randn(8, 3, 32, 32)).sum().backward()
    counts = {
        name: int(value)
        for name, value in model.named_buffers()
        if name.endswith('num_batches_tracked')
    }
    assert set(counts.values()) == {1}, counts


def _has_cxx_compiler():
    return any(shutil.which(name) for name in ('g++', 'c++', 'clang++'))


@pytest.mark.skipif(not _has_cxx_compiler(),
                    reason='torch.compile (inductor) needs a C++ compiler')
def test_inductor_compiled_backbone_matches_eager():
    # About 35 s of compilation on 2 cores (cold cache).
    torch._dynamo.reset()
    model = randomize_(bLResNet(50, 4)).eval()
    x = torch.randn(8, 3, 64, 64)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(compiled(x), expected, atol=1e-4, rtol=0)
        torch.testing.assert_close(compiled(x), expected, atol=1e-4, rtol=0)


@pytest.mark.slow
@pytest.mark.skipif(not _has_cxx_compiler(),
                    reason='torch.compile (inductor) needs a C++ compiler')
def test_inductor_compiled_training_step_matches_eager():
    # Compiles forward and backward with inductor: minutes on 2 cores.
    torch._dynamo.reset()
    eager = randomize_(bLResNet(50, 4)).train()
    twin = randomize_(bLResNet(50, 4)).train()
    compiled = torch.compile(twin, fullgraph=True)
    assert_same_training_step(eager, twin, compiled,
                              torch.randn(8, 3, 32, 32), 1e-4)


def _backbone_ops(backbone, clips, frames=16, size=64):
    with torch.no_grad(), OpCounter() as ops:
        backbone(torch.randn(clips * frames, 3, size, size))
    return ops.total


def test_op_count_is_fixed_and_within_1_2x_of_tsm_r50():
    # One op covers the whole batch (a GPU launches a kernel per op).
    blvnet = bLResNet(50, 16).eval()
    ops = {clips: _backbone_ops(blvnet, clips) for clips in (1, 2, 8)}
    assert len(set(ops.values())) == 1, ops
    cfg = get_config(TSM_CONFIG).model.backbone
    cfg.pretrained = None
    cfg.num_segments = 16
    tsm = MODELS.build(cfg)
    tsm.eval()  # mmaction's ResNet.train returns None
    for clips in (1, 8):
        tsm_ops = _backbone_ops(tsm, clips)
        assert ops[clips] <= 1.2 * tsm_ops, (clips, ops[clips], tsm_ops)
