"""IBM TAM-ResNet and BigLittleNet ImageNet checkpoints, built here from
their documented key layouts, convert and load into our models exactly."""
import logging

import pytest
import torch
from helpers import load_tool
from mmaction.registry import MODELS
from mmengine.runner import load_checkpoint
from reference import randomize_, to_ibm_layout

from mmblvnet.converters import CheckpointKeyError, convert_checkpoint
from mmblvnet.converters.biglittlenet import load_imagenet_blresnet
from mmblvnet.models import ResNetTAM, bLResNet

convert_ibm_checkpoint = load_tool('tools/convert_ibm_checkpoint.py')

T = 4
IBM_TAM_NAMES = ('prev_se', 'curr_se', 'next_se')


def _ibm_tam_keys(block, weight):
    k = weight.shape[0]
    names = (IBM_TAM_NAMES if k == 3 else
             [f'blending_layers.{i}' for i in range(k)])
    return {f'{block}.tam.{name}.fc1.weight': weight[i].view(-1, 1, 1, 1)
            for i, name in enumerate(names)}


def torchvision_layout(backbone, fc, with_tam=True):
    """IBM TAM-ResNet state dict (torchvision ResNet names plus TAMs).

    Written key by key from MMAction2's naming, independently of the
    converter's rule table.
    """
    state = {}
    for key, value in backbone.state_dict().items():
        parts = key.split('.')
        if parts[0] == 'conv1':  # conv1.conv.weight, conv1.bn.<leaf>
            state['conv1.weight' if parts[1] == 'conv' else
                  f'bn1.{parts[2]}'] = value
            continue
        block = f'{parts[0]}.{parts[1]}'
        if parts[2] == 'tam':
            if with_tam:
                state.update(_ibm_tam_keys(block, value))
        elif parts[2] == 'downsample':  # downsample.{conv,bn}.<leaf>
            index = 0 if parts[3] == 'conv' else 1
            state[f'{block}.downsample.{index}.{parts[4]}'] = value
        else:  # conv{n}.conv.weight, conv{n}.bn.<leaf>
            kind = 'conv' if parts[3] == 'conv' else 'bn'
            state[f'{block}.{kind}{parts[2][-1]}.{parts[4]}'] = value
    state['fc.weight'] = fc.weight.detach().clone()
    state['fc.bias'] = fc.bias.detach().clone()
    return state


def tam_resnet_checkpoint(backbone, fc):
    """A training checkpoint of IBM/action-recognition-pytorch."""
    state = torchvision_layout(backbone, fc)
    return dict(
        epoch=50,
        arch='st2stv2-rgb-TAM-b3-sum-resnet-50-f8',
        state_dict={f'module.{k}': v for k, v in state.items()})


def tam_resnet(depth=50, blending_frames=3, num_classes=5):
    backbone = randomize_(
        ResNetTAM(depth, num_segments=T, blending_frames=blending_frames))
    backbone.eval()
    return backbone, randomize_(torch.nn.Linear(backbone.feat_dim,
                                                num_classes))


def reference_scores(backbone, fc, x):
    """IBM's head: fc on every frame, mean over the T frames."""
    frame_scores = fc(backbone(x).mean((2, 3)))
    return frame_scores.view(-1, T, fc.out_features).mean(1)


def convert_file(tmp_path, checkpoint):
    src, dst = tmp_path / 'src.pth.tar', tmp_path / 'dst.pth'
    torch.save(checkpoint, src)
    assert convert_ibm_checkpoint.main([str(src), str(dst)]) == 0
    return dst, torch.load(dst, weights_only=True)['meta']


@pytest.mark.parametrize('depth,blending_frames,head', [(50, 3, 'SegmentHead'),
                                                        (18, 5, 'TSNHead')])
def test_tam_resnet_checkpoint_converts_to_the_same_scores(
        tmp_path, depth, blending_frames, head):
    backbone, fc = tam_resnet(depth, blending_frames)
    dst, meta = convert_file(tmp_path, tam_resnet_checkpoint(backbone, fc))
    arch = meta['arch']
    assert meta['format'] == 'tam_resnet'
    assert (arch['depth'], arch['blending_frames'], arch['num_classes'],
            arch['in_channels']) == (depth, blending_frames, 5, 3)

    model = MODELS.build(
        dict(
            type='Recognizer2D',
            backbone=dict(
                type='ResNetTAM',
                depth=depth,
                num_segments=T,
                blending_frames=blending_frames),
            cls_head=dict(
                type=head, num_classes=5, in_channels=backbone.feat_dim)))
    load_checkpoint(model, str(dst), strict=True)
    model.eval()
    x = torch.randn(2 * T, 3, 32, 32)
    with torch.no_grad():
        expected = reference_scores(backbone, fc, x)
        got = model.cls_head(model.backbone(x), num_segs=T)
    torch.testing.assert_close(
        got, expected, atol=1e-4 * expected.abs().max(), rtol=0)


def test_tam_resnet_of_no_resnet_depth_is_refused_naming_its_blocks():
    checkpoint = tam_resnet_checkpoint(*tam_resnet())
    state = checkpoint['state_dict']
    for key in [k for k in state if k.startswith('module.layer3.5.')]:
        del state[key]
    with pytest.raises(CheckpointKeyError) as error:
        convert_checkpoint(checkpoint)
    message = str(error.value)
    assert '(3, 4, 5, 3)' in message and 'match no ResNet depth' in message
    assert 'backbone.layer3.4.conv1.conv.weight' in message


def test_tam_resnet_unknown_and_missing_keys_are_listed():
    checkpoint = tam_resnet_checkpoint(*tam_resnet())
    state = checkpoint['state_dict']
    del state['module.layer2.1.bn2.running_mean']
    state['module.layer1.0.tam.extra.weight'] = torch.ones(1)
    with pytest.raises(CheckpointKeyError) as error:
        convert_checkpoint(checkpoint)
    message = str(error.value)
    assert 'no conversion rule: layer1.0.tam.extra.weight' in message
    assert 'missing: backbone.layer2.1.conv2.bn.running_mean' in message


def test_dense_tam_kernels_are_refused():
    checkpoint = tam_resnet_checkpoint(*tam_resnet(depth=18))
    key = 'module.layer1.0.tam.prev_se.fc1.weight'
    checkpoint['state_dict'][key] = torch.ones(64, 64, 1, 1)
    with pytest.raises(CheckpointKeyError, match='--no_dw_conv') as error:
        convert_checkpoint(checkpoint)
    assert 'layer1.0.tam.prev_se.fc1.weight: (64, 64, 1, 1)' in str(
        error.value)


def test_unknown_format_fails_naming_its_keys(tmp_path, capsys):
    src, dst = tmp_path / 'other.pth', tmp_path / 'out.pth'
    torch.save({'state_dict': {'encoder.proj.weight': torch.ones(2)}}, src)
    assert convert_ibm_checkpoint.main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert 'unknown checkpoint format' in err and 'encoder.proj.weight' in err
    assert 'tam_resnet' in err and 'biglittlenet' in err
    assert not dst.exists()


def test_resnet_tam_loads_torchvision_weights_and_keeps_tam_init(tmp_path):
    source, fc = tam_resnet(depth=18)
    path = tmp_path / 'resnet18.pth'
    torch.save(torchvision_layout(source, fc, with_tam=False), path)
    model = ResNetTAM(18, num_segments=T, pretrained=str(path))
    tams = {k: v.clone() for k, v in model.state_dict().items()
            if k.endswith('tam.weight')}
    model.init_weights()
    for key, value in model.state_dict().items():
        expected = tams[key] if key in tams else source.state_dict()[key]
        torch.testing.assert_close(value, expected, rtol=0, atol=0)


# BigLittleNet ImageNet bLResNet ---------------------------------------------


def imagenet_checkpoint(depth=50, module_prefix=True):
    """An IBM/BigLittleNet training checkpoint of a random bLResNet."""
    backbone = randomize_(bLResNet(depth, 2, tam_cfg=None))
    backbone.eval()
    fc = torch.nn.Linear(2048, 1000)
    # bLVNet-TAM keeps BigLittleNet's names: reuse its layout, then drop
    # the video model's ``baseline_model.`` level and ``new_`` prefix.
    video = to_ibm_layout(backbone, fc, module_prefix=False)
    state = {
        key.replace('baseline_model.', '').replace('new_fc.', 'fc.'): value
        for key, value in video.items()
    }
    prefix = 'module.' if module_prefix else ''
    checkpoint = dict(
        epoch=100,
        arch=f'blresnet{depth}',
        state_dict={prefix + k: v for k, v in state.items()})
    return backbone, checkpoint


def test_biglittlenet_converts_to_bLResNet_weights(tmp_path):
    source, checkpoint = imagenet_checkpoint()
    dst, meta = convert_file(tmp_path, checkpoint)
    assert meta['format'] == 'biglittlenet'
    assert meta['arch']['depth'] == 50 and meta['arch']['alpha'] == 2
    assert meta['arch']['dropped'] == ['fc.weight', 'fc.bias']
    model = bLResNet(50, 2, tam_cfg=None)
    model.load_state_dict(
        torch.load(dst, weights_only=True)['state_dict'], strict=True)
    model.eval()
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))


@pytest.mark.parametrize('converted', [False, True])
def test_imagenet_loading_keeps_tams_and_logs_unused_keys_by_name(
        tmp_path, caplog, converted):
    source, checkpoint = imagenet_checkpoint()
    path = tmp_path / 'imagenet.pth.tar'
    if converted:
        dst, _ = convert_file(tmp_path, checkpoint)
        path = dst
    else:
        torch.save(checkpoint, path)
    model = bLResNet(50, T)
    tams = {k: v.clone() for k, v in model.state_dict().items()
            if k.endswith('tam.weight')}
    logger = logging.getLogger('test_imagenet')
    with caplog.at_level(logging.INFO, logger='test_imagenet'):
        report = load_imagenet_blresnet(model, str(path), logger=logger)

    assert report.unused == ([] if converted else ['fc.weight', 'fc.bias'])
    assert sorted(report.kept_init) == sorted(tams)
    assert len(tams) == 7  # layer0, layer1..3, layer4.0..2
    for key in report.kept_init + report.unused:
        assert key in caplog.text
    for key, value in model.state_dict().items():
        expected = tams[key] if key in tams else source.state_dict()[key]
        torch.testing.assert_close(value, expected, rtol=0, atol=0)


def test_backbone_config_pretrained_loads_a_raw_imagenet_file(tmp_path):
    source, checkpoint = imagenet_checkpoint()
    path = tmp_path / 'ImageNet-bLResNet-50-a2-b4.pth.tar'
    torch.save(checkpoint, path)
    model = MODELS.build(
        dict(type='bLResNet', depth=50, num_segments=T,
             init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    model.init_weights()
    loaded = model.state_dict()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    assert bLResNet(50, T, pretrained=str(path)).init_cfg == dict(
        type='Pretrained', checkpoint=str(path))


def test_flow_stem_is_the_rgb_filter_averaged_and_repeated():
    source, checkpoint = imagenet_checkpoint(module_prefix=False)
    model = bLResNet(50, T, in_channels=2)
    load_imagenet_blresnet(model, checkpoint)
    rgb = source.conv1.weight
    assert model.conv1.weight.shape == (64, 2, 7, 7)
    for channel in range(2):
        torch.testing.assert_close(model.conv1.weight[:, channel],
                                   rgb.mean(1))


@pytest.mark.parametrize('depth,alpha,problem', [
    (101, 2, 'missing: layer1.big.2.conv1.weight'),
    (50, 4, 'wrong shape: layer0.little.0.weight'),
])
def test_imagenet_checkpoint_of_another_architecture_is_refused(
        depth, alpha, problem):
    _, checkpoint = imagenet_checkpoint()
    model = bLResNet(depth, T, alpha=alpha)
    with pytest.raises(CheckpointKeyError, match='depth and alpha') as error:
        load_imagenet_blresnet(model, checkpoint)
    assert problem in str(error.value)


def test_imagenet_checkpoint_with_unknown_keys_is_refused():
    _, checkpoint = imagenet_checkpoint()
    checkpoint['state_dict']['module.aux_head.weight'] = torch.ones(1)
    with pytest.raises(CheckpointKeyError) as error:
        load_imagenet_blresnet(bLResNet(50, T), checkpoint)
    assert 'no conversion rule: aux_head.weight' in str(error.value)
