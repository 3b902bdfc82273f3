import pytest
import torch
from mmaction.models.backbones import ResNet
from mmaction.registry import MODELS
from reference import randomize_, slow_tam

from mmblvnet.models import ResNetTAM
from mmblvnet.models.common.tam import TAM

T = 4


def blocks(model):
    return [block for name in model.res_layers
            for block in getattr(model, name)]


def set_tams_(model, weight):
    with torch.no_grad():
        for block in blocks(model):
            block.tam.weight.copy_(weight.view(-1, 1))


@pytest.mark.parametrize('depth,channels', [(18, 512), (50, 2048)])
def test_output_shape_is_resnet_features_per_frame(depth, channels):
    model = ResNetTAM(depth, num_segments=T)
    out = model(torch.randn(2 * T, 3, 64, 64))
    assert out.shape == (2 * T, channels, 2, 2)
    assert model.feat_dim == channels


@pytest.mark.parametrize('depth,num_blocks', [(18, 8), (34, 16), (50, 16),
                                              (101, 33)])
def test_every_block_has_one_tam_on_its_input_channels(depth, num_blocks):
    model = ResNetTAM(depth, num_segments=T, blending_frames=5)
    tams = {name: m for name, m in model.named_modules() if isinstance(m, TAM)}
    assert len(tams) == num_blocks
    for name in model.res_layers:
        for index, block in enumerate(getattr(model, name)):
            tam = tams[f'{name}.{index}.tam']
            assert tam.weight.shape == (5, block.conv1.conv.in_channels)


@pytest.mark.parametrize('depth', [18, 50])
def test_pass_through_tams_equal_plain_resnet(depth):
    model = randomize_(ResNetTAM(depth, num_segments=T)).eval()
    plain = ResNet(depth)
    plain.eval()  # ResNet.train returns None: no chaining
    plain.load_state_dict({
        key: value for key, value in model.state_dict().items()
        if not key.endswith('tam.weight')
    }, strict=True)
    x = torch.randn(2 * T, 3, 32, 32)
    with torch.no_grad():
        # Block inputs are post-ReLU, so ReLU(1 * x) is the identity.
        set_tams_(model, torch.tensor([0., 1., 0.]))
        torch.testing.assert_close(model(x), plain(x))
        set_tams_(model, torch.tensor([0.3, 1., 0.5]))
        assert (model(x) - plain(x)).abs().max() > 1e-3


@pytest.mark.parametrize('depth,stage,index', [(18, 'layer2', 0),
                                               (18, 'layer2', 1),
                                               (50, 'layer2', 0),
                                               (50, 'layer1', 0),
                                               (50, 'layer1', 1)])
def test_tam_feeds_the_residual_branch_and_shortcut_reads_block_input(
        depth, stage, index):
    model = randomize_(ResNetTAM(depth, num_segments=T)).eval()
    block = getattr(model, stage)[index]
    x = torch.randn(2 * T, block.conv1.conv.in_channels, 8, 8)
    with torch.no_grad():
        blended = slow_tam(x, block.tam.weight, T)
        residual = block.conv1(blended)
        for conv in ('conv2', 'conv3'):
            if hasattr(block, conv):
                residual = getattr(block, conv)(residual)
        shortcut = x if block.downsample is None else block.downsample(x)
        expected = torch.relu(residual + shortcut)
        torch.testing.assert_close(block(x), expected)


def test_builds_from_config_and_passes_resnet_options_through():
    model = MODELS.build(
        dict(
            type='ResNetTAM',
            depth=18,
            num_segments=T,
            blending_frames=5,
            blending_method='max',
            out_indices=(2, 3),
            frozen_stages=1,
            norm_eval=True))
    model.train()
    outs = model(torch.randn(T, 3, 32, 32))
    assert [out.shape[1] for out in outs] == [256, 512]
    assert model.layer1[0].tam.blending_method == 'max'
    assert not model.layer1[0].tam.weight.requires_grad
    assert model.layer2[0].tam.weight.requires_grad
    assert not model.layer2[0].conv1.bn.training


@pytest.mark.parametrize('depth,with_cp', [(18, False), (50, True)])
def test_gradients_reach_every_tam(depth, with_cp):
    model = ResNetTAM(depth, num_segments=T, with_cp=with_cp)
    x = torch.randn(T, 3, 32, 32, requires_grad=True)
    model(x).square().mean().backward()
    for block in blocks(model):
        assert block.tam.weight.grad is not None
        assert block.tam.weight.grad.abs().sum() > 0


def test_batch_not_a_multiple_of_num_segments_is_rejected():
    model = ResNetTAM(18, num_segments=T)
    with pytest.raises(ValueError, match='num_segments=4'):
        model(torch.randn(T + 1, 3, 32, 32))
