"""Causal TAM (``causal=True``) in bLResNet, ResNetTAM and TAMNeck: the
reference dataflow with causal blending, and outputs that never depend on
a later frame."""
import pytest
import torch
from reference import assert_matches_reference, randomize_

from mmblvnet.models import ResNetTAM, TAMNeck
from mmblvnet.models.backbones.blresnet import bLResNet
from mmblvnet.models.common.tam import TAM

CAUSAL = dict(blending_frames=3, causal=True)


@pytest.mark.parametrize('tam_cfg', [
    CAUSAL,
    dict(blending_frames=2, causal=True),
    dict(blending_frames=3, blending_method='max', causal=True),
])
def test_causal_blresnet_matches_reference_dataflow(tam_cfg):
    model = randomize_(bLResNet(50, 6, tam_cfg=tam_cfg)).eval()
    assert_matches_reference(model, torch.randn(12, 3, 64, 64))


def test_causal_blresnet_export_form_matches_reference_dataflow(
        monkeypatch):
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    model = randomize_(bLResNet(50, 6, tam_cfg=CAUSAL)).eval()
    assert_matches_reference(model, torch.randn(12, 3, 64, 64))


def _changed_from(x, num_segments, first):
    """``x`` (N * T, ...) with frames ``first ..`` of every clip redrawn."""
    clips = x.clone().view(-1, num_segments, *x.shape[1:])
    clips[:, first:] = torch.randn_like(clips[:, first:])
    return clips.view_as(x)


def _per_step(out, num_segments):
    return out.view(-1, num_segments, *out.shape[1:])


@pytest.mark.parametrize('causal', [True, False])
def test_blresnet_outputs_depend_on_later_pairs_only_without_causal(causal):
    num_segments = 8
    model = randomize_(
        bLResNet(50, num_segments, tam_cfg=dict(CAUSAL,
                                                causal=causal))).eval()
    x = torch.randn(2 * num_segments, 3, 64, 64)
    later = _changed_from(x, num_segments, 4)  # pairs 2 and 3 redrawn
    with torch.no_grad():
        out = _per_step(model(x), num_segments)
        out_later = _per_step(model(later), num_segments)
    same = torch.allclose(out[:, :4], out_later[:, :4], atol=1e-6, rtol=0)
    assert same == causal
    assert not torch.allclose(out[:, 4:], out_later[:, 4:])


def test_causal_resnet_tam_and_neck_outputs_ignore_later_frames():
    num_segments = 4
    backbone = randomize_(ResNetTAM(18, num_segments, causal=True)).eval()
    assert all(m.causal for m in backbone.modules() if isinstance(m, TAM))
    neck = TAMNeck(512, num_segments, causal=True)
    x = torch.randn(2 * num_segments, 3, 32, 32)
    later = _changed_from(x, num_segments, 2)
    with torch.no_grad():
        out, out_later = (_per_step(backbone(frames), num_segments)
                          for frames in (x, later))
        blended, blended_later = (
            _per_step(neck.tam(features.flatten(0, 1)), num_segments)
            for features in (out, out_later))
    torch.testing.assert_close(out[:, :2], out_later[:, :2])
    torch.testing.assert_close(blended[:, :2], blended_later[:, :2])


def test_even_blending_frames_need_causal():
    with pytest.raises(ValueError, match='odd positive'):
        TAM(4, 4, blending_frames=2)
    assert TAM(4, 4, blending_frames=2, causal=True).offsets() == range(
        -1, 1)
