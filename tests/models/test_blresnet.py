import pytest
import torch
from mmaction.registry import MODELS
from mmcv.cnn import fuse_conv_bn
from reference import (
    assert_matches_reference,
    randomize_,
    reference_blresnet_forward,
)
from torch import nn

from mmblvnet.models.backbones.blresnet import ARCH_SETTINGS, bLResNet
from mmblvnet.models.common.avg_pool import DepthwiseAvgPool2d
from mmblvnet.models.common.bottleneck import Bottleneck
from mmblvnet.models.common.small_maps import SmallMapConv2d


@pytest.mark.parametrize('depth', [50, 101, 152])
@pytest.mark.parametrize('num_segments', [2, 8, 16])
@pytest.mark.parametrize('size,out_size', [((224, 224), (7, 7)),
                                           ((160, 160), (5, 5)),
                                           ((128, 192), (4, 6))])
def test_output_shape(depth, num_segments, size, out_size):
    with torch.device('meta'):
        model = bLResNet(depth, num_segments)
        out = model(torch.empty(2 * num_segments, 3, *size))
    assert out.shape == (2 * num_segments, 2048, *out_size)


def test_stage_sizes_at_224_follow_the_paper():
    sizes = {}
    with torch.device('meta'):
        model = bLResNet(50, 4)
        for name in ('conv1', 'layer0', 'layer1', 'layer2', 'layer3',
                     'layer4'):
            getattr(model, name).register_forward_hook(
                lambda m, i, o, name=name: sizes.__setitem__(
                    name, tuple(o.shape)))
        model(torch.empty(8, 3, 224, 224))
    assert sizes == {
        'conv1': (8, 64, 112, 112),
        'layer0': (4, 64, 56, 56),
        'layer1': (4, 256, 28, 28),
        'layer2': (4, 512, 14, 14),
        'layer3': (4, 1024, 14, 14),
        'layer4': (4, 2048, 7, 7),
    }


@pytest.mark.parametrize('tam_cfg', [
    dict(blending_frames=3, blending_method='sum'),
    dict(blending_frames=5, blending_method='sum'),
    dict(blending_frames=3, blending_method='max'),
    None,
])
def test_matches_reference_dataflow(tam_cfg):
    model = randomize_(bLResNet(50, 4, tam_cfg=tam_cfg)).eval()
    x = torch.randn(8, 3, 64, 96)
    assert_matches_reference(model, x)


def test_small_frames_match_reference_dataflow():
    # 32 x 32 frames: layer4 runs on 2x2 and 1x1 maps, where the
    # convolutions drop the taps that read only padding.
    model = randomize_(bLResNet(50, 4)).eval()
    assert_matches_reference(model, torch.randn(8, 3, 32, 32))


def test_onnx_export_form_matches_reference_dataflow(monkeypatch):
    # What torch.onnx.export traces: TAM's masked shifts, the big branch
    # upsampled by interpolation, the stem convolution per parity, the
    # shortcut pools as depthwise convolutions.
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    model = randomize_(bLResNet(50, 4)).eval()
    assert_matches_reference(model, torch.randn(8, 3, 64, 64))


def test_mmcv_fuse_conv_bn_keeps_the_outputs():
    # The Conv2d + BatchNorm folding docs/usage.md offers for CPU
    # inference (MMCV's own fuse_conv_bn): exact, every BatchNorm folded.
    model = randomize_(bLResNet(50, 4)).eval()
    x = torch.randn(8, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        fused = fuse_conv_bn(model).eval()
        out = fused(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_matches_reference_dataflow_in_train_mode():
    # Batch statistics amplify float32 rounding: compare in float64.
    model = randomize_(bLResNet(50, 6)).double().train()
    twin = randomize_(bLResNet(50, 6)).double().train()
    x = torch.randn(12, 3, 64, 64, dtype=torch.float64)
    out = model(x)
    expected = reference_blresnet_forward(twin, x)
    torch.testing.assert_close(out, expected, atol=1e-9, rtol=0)
    for name, stats in model.state_dict().items():
        if 'running' in name:
            torch.testing.assert_close(stats, twin.state_dict()[name])


def test_both_frames_of_a_pair_share_each_fused_stage():
    model = randomize_(bLResNet(50, 8)).eval()
    maps = {}
    for name in ('layer0', 'layer1', 'layer2', 'layer3'):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: maps.__setitem__(name, o))
    with torch.no_grad():
        out = model(torch.randn(16, 3, 64, 64))
    # One map per pair (2 clips x 4 pairs) stands for both of its frames.
    assert all(m.shape[0] == 8 for m in maps.values())
    torch.testing.assert_close(out[0::2], out[1::2], atol=0, rtol=0)
    assert not torch.equal(out[0], out[2])


def test_gradients_reach_every_parameter():
    model = bLResNet(50, 4)
    randomize_(model)
    out = model(torch.randn(8, 3, 64, 64))
    out.square().mean().backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_with_cp_gives_same_output_and_gradients():
    plain = randomize_(bLResNet(50, 4))
    checkpointed = bLResNet(50, 4, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(8, 3, 64, 64, requires_grad=True)
    outs, grads = [], []
    for model in (plain, checkpointed):
        out = model(x)
        outs.append(out)
        grads.append(torch.autograd.grad(out.sum(), x)[0])
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(grads[0], grads[1])


def test_init_rules():
    model = bLResNet(50, 16)
    conv = model.layer2.big[1].conv2
    fan_out = conv.out_channels * 9
    assert abs(conv.weight.std().item() - (2 / fan_out)**0.5) < 0.005
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.all(module.bias == 0)
        if isinstance(module, Bottleneck):
            assert torch.all(module.bn3.weight == 0)
            assert torch.all(module.bn1.weight == 1)
    assert torch.all(model.bn1.weight == 1)


def test_tam_placement_and_widths():
    model = bLResNet(50, 16)
    assert model.layer0.tam.weight.shape == (3, 64)
    assert model.layer0.tam.num_segments == 16
    assert [model.layer1.tam.in_channels, model.layer2.tam.in_channels,
            model.layer3.tam.in_channels] == [64, 256, 512]
    assert all(b.tam.num_segments == 8 for b in model.layer4)
    assert [b.tam.in_channels for b in model.layer4] == [1024, 2048, 2048]
    for stage in (model.layer1, model.layer2, model.layer3):
        assert all(b.tam is None for b in stage.modules()
                   if isinstance(b, Bottleneck))
    assert not model.layer1.big[-1].last_relu
    assert [len(model.layer1.big), len(model.layer2.big),
            len(model.layer3.big), len(model.layer4)] == [2, 3, 5, 3]
    assert all(len(s.little) == 1
               for s in (model.layer1, model.layer2, model.layer3))
    assert model.layer1.little[0].conv3.out_channels == 128
    # Shortcut rule: pool when strided, project when the width changes.
    pool_only = model.layer1.fusion[0].downsample
    assert [type(m) for m in pool_only] == [DepthwiseAvgPool2d]
    assert model.layer3.fusion[0].downsample is None
    assert [type(m) for m in model.layer4[0].downsample] == [
        DepthwiseAvgPool2d, SmallMapConv2d, nn.BatchNorm2d]
    plain = bLResNet(50, 16, tam_cfg=None)
    assert not any('tam' in n for n, _ in plain.named_parameters())


def test_parameter_count_of_paper_model():
    params = sum(p.numel() for p in bLResNet(50, 16).parameters())
    tam_params = sum(p.numel() for n, p in bLResNet(50, 16).named_parameters()
                     if 'tam' in n)
    # Paper: 25.0M with the 174-class head (0.36M); TAM ~18k.
    assert 24.5e6 < params < 24.8e6
    assert 15e3 < tam_params < 25e3


@pytest.mark.parametrize('frozen_stages', [0, 2, 3])
def test_frozen_stages_keep_weights_and_statistics(frozen_stages):
    model = bLResNet(50, 4, frozen_stages=frozen_stages).train()
    frozen = [m for stage in model.stages()[:frozen_stages + 1]
              for m in stage]
    frozen_ids = {id(t) for m in frozen for t in m.state_dict(
        keep_vars=True).values()}
    before = {n: t.clone() for n, t in model.state_dict().items()}
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(8, 3, 64, 64)).mean().backward()
    optimizer.step()
    changed = set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        if not torch.equal(tensor, before[name]):
            changed.add(name)
            assert id(tensor) not in frozen_ids, name
    assert changed
    assert all(not m.training for m in frozen)


def test_norm_eval_keeps_batchnorm_statistics():
    model = bLResNet(50, 4, norm_eval=True).train()
    before = {n: t.clone() for n, t in model.state_dict().items()
              if 'running' in n}
    model(torch.randn(8, 3, 64, 64))
    assert all(torch.equal(model.state_dict()[n], t)
               for n, t in before.items())
    assert all(not m.training for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))


def test_partial_bn_trains_only_the_first_batchnorm():
    model = bLResNet(50, 4, partial_bn=True).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms[0].training and norms[0].weight.requires_grad
    assert all(not m.training and not m.weight.requires_grad
               for m in norms[1:])


@pytest.mark.parametrize('num_segments', [3, 0, -2, 2.0])
def test_rejects_num_segments_that_are_not_positive_even(num_segments):
    with pytest.raises(ValueError, match='num_segments'):
        bLResNet(50, num_segments)


def test_rejects_batch_not_a_multiple_of_num_segments():
    model = bLResNet(50, 4)
    with pytest.raises(ValueError,
                       match=r'num_segments=4.*\(6, 3, 32, 32\)'):
        model(torch.randn(6, 3, 32, 32))


def test_rejects_unknown_depth():
    with pytest.raises(KeyError, match='depth 34'):
        bLResNet(34, 4)


def test_registry_builds_every_depth():
    for depth in ARCH_SETTINGS:
        with torch.device('meta'):
            model = MODELS.build(
                dict(type='bLResNet', depth=depth, num_segments=4,
                     tam_cfg=None))
        assert isinstance(model, bLResNet) and model.depth == depth


def test_flow_input_channels():
    model = bLResNet(50, 4, in_channels=2)
    assert model.conv1.weight.shape == (64, 2, 7, 7)
    assert model(torch.randn(4, 2, 32, 32)).shape == (4, 2048, 1, 1)
