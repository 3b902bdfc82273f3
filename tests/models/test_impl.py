"""bLResNet's two implementations, 'loop' (eager CPU) and 'batched' (GPU,
compile, export), give the same numbers; the batched one dispatches a
number of ops that does not grow with the batch."""
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.hub import get_config
from reference import assert_matches_reference, randomize_

from benchmarks.profiling import OpCounter
from mmblvnet.models import ResNetTAM, TAMNeck
from mmblvnet.models.backbones.blresnet import bLResNet
from mmblvnet.models.common.avg_pool import DepthwiseAvgPool2d
from mmblvnet.models.common.impl import (
    BATCHED,
    EXPORT,
    LOOP_INFERENCE,
    LOOP_WITH_AUTOGRAD,
    plan,
    runs_batched,
    set_impl,
)
from mmblvnet.models.common.tam import TAM

TSM_CONFIG = ('mmaction::recognition/tsm/'
              'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py')


def forward_backward(model, x):
    """Output, input gradient and parameter gradients of a fixed loss."""
    x = x.detach().clone().requires_grad_()
    out = model(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype)
    (out * weights.view_as(out)).sum().backward()
    return out, x.grad, {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize('impl', ['batched', 'loop'])
@pytest.mark.parametrize('tam_cfg', [
    dict(blending_frames=3, blending_method='sum'),
    dict(blending_frames=5, blending_method='max'),
])
def test_each_impl_matches_the_reference_in_inference(impl, tam_cfg):
    model = randomize_(bLResNet(50, 4, tam_cfg=tam_cfg, impl=impl)).eval()
    x = torch.randn(8, 3, 64, 64)
    assert_matches_reference(model, x)


def test_the_export_path_matches_the_reference(monkeypatch):
    # What torch.onnx.export traces: TAM's masked shifts, the big branch
    # upsampled by interpolation, the stem convolution per parity.
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    model = randomize_(bLResNet(50, 4, impl='auto')).eval()
    x = torch.randn(8, 3, 64, 64)
    assert plan('auto', x) == EXPORT
    assert_matches_reference(model, x)


def test_batched_equals_loop_outputs_and_gradients_in_training():
    # Batch statistics amplify float32 rounding: compare in float64.
    loop = randomize_(bLResNet(50, 4, impl='loop')).double().train()
    batched = randomize_(bLResNet(50, 4, impl='batched')).double().train()
    x = torch.randn(8, 3, 64, 64, dtype=torch.float64)
    expected = forward_backward(loop, x)
    got = forward_backward(batched, x)
    torch.testing.assert_close(got[:2], expected[:2], atol=1e-9, rtol=0)
    for name, grad in expected[2].items():
        # Pools summed in another order: differences of float64 rounding.
        atol = 1e-10 * grad.abs().max().item()
        torch.testing.assert_close(
            got[2][name], grad, atol=atol, rtol=0, msg=name)


def test_impl_changes_neither_state_dict_keys_nor_values():
    loop = randomize_(bLResNet(50, 4, impl='loop'))
    batched = randomize_(bLResNet(50, 4, impl='batched'))
    assert list(batched.state_dict()) == list(loop.state_dict())
    batched.load_state_dict(loop.state_dict(), strict=True)


def test_impl_reaches_every_module_with_two_paths():
    model = bLResNet(50, 4, impl='batched')
    impls = {m.impl for m in model.modules() if hasattr(m, 'impl')}
    assert impls == {'batched'}
    set_impl(model, 'loop')
    assert {m.impl for m in model.modules() if hasattr(m, 'impl')} == {
        'loop'
    }
    assert any(isinstance(m, TAM) and m.impl == 'loop'
               for m in model.modules())


def test_auto_is_loop_on_cpu_and_batched_on_other_devices_and_compiled():
    assert not runs_batched('auto', torch.zeros(1))
    assert runs_batched('auto', torch.zeros(1, device='meta'))
    assert runs_batched('batched', torch.zeros(1))
    assert not runs_batched('loop', torch.zeros(1, device='meta'))

    def path(x):
        return x + 1 if runs_batched('auto', x) else x - 1

    torch._dynamo.reset()
    compiled = torch.compile(path, backend='eager', fullgraph=True)
    assert compiled(torch.zeros(1)).item() == 1
    assert torch.jit.trace(path, torch.zeros(1))(torch.zeros(1)).item() == 1


def test_plan_is_decided_by_impl_device_and_autograd_alone():
    cpu, meta = torch.zeros(1), torch.zeros(1, device='meta')
    assert plan('batched', cpu) == BATCHED
    assert plan('auto', meta) == BATCHED
    assert plan('loop', meta) == LOOP_WITH_AUTOGRAD
    assert plan('auto', cpu) == LOOP_WITH_AUTOGRAD
    with torch.no_grad():
        assert plan('auto', cpu) == LOOP_INFERENCE
        assert plan('batched', cpu) == BATCHED
    assert not any(BATCHED)
    assert LOOP_INFERENCE.fold_conv_bn and LOOP_INFERENCE.per_clip
    assert LOOP_INFERENCE.depthwise_pools
    assert LOOP_WITH_AUTOGRAD.depthwise_pools
    assert not (LOOP_WITH_AUTOGRAD.fold_conv_bn
                or LOOP_WITH_AUTOGRAD.per_clip)


def _traced_ops(module, x):
    graph = torch.jit.trace(module, x).inlined_graph
    return {node.kind() for node in graph.nodes()}


def test_onnx_export_runs_batched_with_masked_tam_shifts(monkeypatch):
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    x = torch.randn(2)
    assert plan('auto', x) == plan('batched', x) == EXPORT
    assert EXPORT == BATCHED._replace(
        depthwise_pools=True,
        masked_shifts=True,
        resize_upsample=True,
        stem_per_parity=True)
    assert plan('loop', x) == LOOP_WITH_AUTOGRAD


def test_a_forced_loop_stays_the_loop_while_traced():
    pool = DepthwiseAvgPool2d(3, 2, 1)
    x = torch.randn(2, 4, 8, 8)
    assert 'aten::avg_pool2d' in _traced_ops(pool, x)  # auto: batched
    pool.impl = 'loop'
    ops = _traced_ops(pool, x)
    assert 'aten::avg_pool2d' not in ops
    assert ops & {'aten::_convolution', 'aten::conv2d'}
    torch.testing.assert_close(pool(x), torch.nn.AvgPool2d(3, 2, 1)(x))


@pytest.mark.parametrize('build', [
    lambda impl: ResNetTAM(18, 4, impl=impl, out_indices=(3, )),
    lambda impl: TAMNeck(8, 4, impl=impl),
])
def test_every_tam_bearing_module_takes_impl(build):
    loop, batched = build('loop'), build('batched')
    assert {m.impl for m in loop.modules() if isinstance(m, TAM)} == {
        'loop'
    }
    assert {m.impl for m in batched.modules() if isinstance(m, TAM)} == {
        'batched'
    }
    batched.load_state_dict(randomize_(loop).state_dict(), strict=True)
    loop.eval(), batched.eval()
    if isinstance(loop, TAMNeck):
        x = (torch.randn(2, 8, 8, 3, 3), )
    else:
        x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(batched(x), loop(x))
    with pytest.raises(ValueError, match="impl=.*'fast'"):
        build('fast')


def test_rejects_unknown_impl():
    with pytest.raises(ValueError, match="impl=.*'fast'"):
        bLResNet(50, 4, impl='fast')
    with pytest.raises(ValueError, match='impl'):
        set_impl(bLResNet(50, 4), 'gpu')


def _backbone_ops(backbone, clips, frames=16, size=64):
    with torch.no_grad(), OpCounter() as ops:
        backbone(torch.randn(clips * frames, 3, size, size))
    return ops.total


def _tsm_r50_16f():
    cfg = get_config(TSM_CONFIG).model.backbone
    cfg.pretrained = None
    cfg.num_segments = 16
    tsm = MODELS.build(cfg)
    tsm.eval()  # mmaction's ResNet.train returns None
    return tsm


def test_batched_op_count_is_fixed_and_within_1_2x_of_tsm_r50():
    blvnet = bLResNet(50, 16, impl='batched').eval()
    ops = {clips: _backbone_ops(blvnet, clips) for clips in (1, 2, 8)}
    assert len(set(ops.values())) == 1, ops
    tsm = _tsm_r50_16f()
    for clips in (1, 8):
        tsm_ops = _backbone_ops(tsm, clips)
        assert ops[clips] <= 1.2 * tsm_ops, (clips, ops[clips], tsm_ops)


def test_loop_op_count_grows_with_the_batch_without_autograd():
    # What the batched path is for: the CPU path adds ops per clip.
    loop = bLResNet(50, 16, impl='loop').eval()
    assert _backbone_ops(loop, 2, size=32) > _backbone_ops(loop, 1, size=32)
