
import pytest
import torch
from helpers import load_tool
from mmaction.registry import MODELS
from mmengine.runner import load_checkpoint
from reference import randomize_, to_ibm_layout

from mmblvnet.converters import CheckpointKeyError, convert_checkpoint
from mmblvnet.models import SegmentHead, bLResNet

convert_ibm_checkpoint = load_tool('tools/convert_ibm_checkpoint.py')


def released_model(depth=50, blending_frames=3, num_classes=6, seed=0):
    tam_cfg = (None if blending_frames is None else dict(
        blending_frames=blending_frames))
    backbone = randomize_(bLResNet(depth, 4, tam_cfg=tam_cfg), seed).eval()
    fc = torch.nn.Linear(2048, num_classes)
    return backbone, fc, to_ibm_layout(backbone, fc)


def recognizer_cfg(depth=50, blending_frames=3, num_classes=6):
    tam_cfg = (None if blending_frames is None else dict(
        blending_frames=blending_frames))
    return dict(
        type='Recognizer2D',
        backbone=dict(type='bLResNet', depth=depth, num_segments=4,
                      tam_cfg=tam_cfg),
        cls_head=dict(type='SegmentHead', num_classes=num_classes,
                      in_channels=2048),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCHW'))


@pytest.mark.parametrize('depth,blending_frames', [(50, 3), (50, 5),
                                                   (50, 1), (50, None),
                                                   (101, 3)])
def test_converted_checkpoint_gives_reference_logits(
        tmp_path, depth, blending_frames):
    backbone, fc, released = released_model(depth, blending_frames)
    src, dst = tmp_path / 'ibm.pth.tar', tmp_path / 'converted.pth'
    torch.save(released, src)
    assert convert_ibm_checkpoint.main([str(src), str(dst)]) == 0

    model = MODELS.build(recognizer_cfg(depth, blending_frames)).eval()
    load_checkpoint(model, str(dst), strict=True)
    x = torch.randn(8, 3, 64, 64)
    with torch.no_grad():
        # Reference head: classifier on each big frame, mean over frames.
        frame_logits = fc(backbone(x)[1::2].mean((2, 3)))
        expected = frame_logits.view(2, 2, -1).mean(1)
        got = model.cls_head(model.backbone(x), num_segs=4)
    scale = expected.abs().max()
    torch.testing.assert_close(got, expected, atol=1e-4 * scale, rtol=0)
    meta = torch.load(dst, weights_only=True)['meta']
    assert meta['arch']['depth'] == depth
    assert meta['format'] == 'blvnet_tam'


def test_converter_accepts_files_without_module_prefix():
    backbone, fc, _ = released_model()
    state, arch, fmt = convert_checkpoint(
        to_ibm_layout(backbone, fc, module_prefix=False))
    assert fmt == 'blvnet_tam' and arch['num_classes'] == 6
    assert state['backbone.layer0.tam.weight'].shape == (3, 64)


def test_unknown_keys_are_listed_and_nothing_is_written(tmp_path, capsys):
    _, _, released = released_model()
    released['module.baseline_model.layer1.extra.weight'] = torch.ones(1)
    released['module.some_aux_head.bias'] = torch.ones(1)
    src, dst = tmp_path / 'bad.pth', tmp_path / 'out.pth'
    torch.save(released, src)
    assert convert_ibm_checkpoint.main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert 'layer1.extra.weight' in err and 'some_aux_head.bias' in err
    assert not dst.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_missing_keys_are_listed():
    _, _, released = released_model()
    del released['module.baseline_model.layer2.big.0.bn2.running_var']
    with pytest.raises(CheckpointKeyError,
                       match='missing') as error:
        convert_checkpoint(released)
    assert error.value.keys == [
        'missing: backbone.layer2.big.0.bn2.running_var']


def test_wrong_shapes_are_listed():
    _, _, released = released_model()
    released['module.baseline_model.layer3.fusion.0.conv1.weight'] = (
        torch.zeros(3, 3, 1, 1))
    with pytest.raises(CheckpointKeyError, match='wrong shape') as error:
        convert_checkpoint(released)
    assert 'layer3.fusion.0.conv1.weight' in error.value.keys[0]


def test_unknown_format_names_the_keys():
    with pytest.raises(CheckpointKeyError, match='unknown checkpoint'):
        convert_checkpoint({'encoder.weight': torch.ones(1)})


def test_existing_destination_is_not_overwritten(tmp_path, capsys):
    _, _, released = released_model()
    src, dst = tmp_path / 'ibm.pth', tmp_path / 'out.pth'
    torch.save(released, src)
    dst.write_bytes(b'user data')
    assert convert_ibm_checkpoint.main([str(src), str(dst)]) == 1
    assert dst.read_bytes() == b'user data'
    assert '--overwrite' in capsys.readouterr().err
    assert convert_ibm_checkpoint.main(
        [str(src), str(dst), '--overwrite']) == 0
    assert 'state_dict' in torch.load(dst, weights_only=True)


def test_segment_head_keys_match_converted_head():
    head_keys = set(SegmentHead(6, 2048).state_dict())
    _, _, released = released_model()
    state, _, _ = convert_checkpoint(released)
    assert {k[len('cls_head.'):] for k in state
            if k.startswith('cls_head.')} == head_keys
