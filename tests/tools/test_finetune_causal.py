"""An offline bLVNet-TAM checkpoint in IBM's released layout, converted by
the project's converter, loads whole into the causal form and fine-tunes
there (docs/finetune.md, "Fine-tune into the causal form")."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import load_tool
from mmaction.registry import MODELS
from mmengine.runner import load_checkpoint
from reference import randomize_, to_ibm_layout
from test_demo_configs import tiny_run_config

from mmblvnet.datasets.synthetic import render_clip
from mmblvnet.engine import RobustRunner
from mmblvnet.models.common.tam import TAM

convert_ibm_checkpoint = load_tool('tools/convert_ibm_checkpoint.py')

FINETUNE = 'blvnet-tam-causal_r50_demo-pre_1xb8-1x1x8-3e_synthetic-rgb.py'
T = 8


def recognizer(causal, num_classes):
    """bLVNet-TAM-50 at ``T`` frames, offline or causal TAMs (k = 3)."""
    return MODELS.build(dict(
        type='Recognizer2D',
        backbone=dict(type='bLResNet', depth=50, num_segments=T,
                      tam_cfg=dict(blending_frames=3, causal=causal)),
        cls_head=dict(type='SegmentHead', num_classes=num_classes,
                      in_channels=2048),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCHW')))


def converted_file(model, folder):
    """``model`` saved in IBM's released layout (``module.baseline_model.*``,
    ``module.new_fc.*``) and converted by tools/convert_ibm_checkpoint.py;
    returns the converted file."""
    released, converted = folder / 'ibm.pth.tar', folder / 'converted.pth'
    torch.save(to_ibm_layout(model.backbone, model.cls_head.fc_cls),
               released)
    assert convert_ibm_checkpoint.main([str(released), str(converted)]) == 0
    return converted


def logits(model, x):
    """Clip logits (N, num_classes) of frames ``x`` (N * T, 3, H, W)."""
    return model.cls_head(model.backbone(x), num_segs=T)


def test_converted_checkpoint_loads_whole_into_the_causal_finetune_config(
        synthetic_root, tmp_path):
    offline = recognizer(causal=False, num_classes=6)
    randomize_(offline.backbone)
    randomize_(offline.cls_head)
    converted = converted_file(offline.eval(), tmp_path)
    state = torch.load(converted, weights_only=True)['state_dict']
    result = recognizer(causal=True, num_classes=6).load_state_dict(
        state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []

    cfg = tiny_run_config(FINETUNE, synthetic_root, tmp_path / 'run')
    cfg.model.cls_head.num_classes = 6
    cfg.load_from = str(converted)
    runner = RobustRunner.from_cfg(cfg)
    runner.load_or_resume()  # load_from through StrictLoadHook's checks
    causal = runner.model.eval()
    tams = [m for m in causal.backbone.modules() if isinstance(m, TAM)]
    assert tams and all(tam.causal for tam in tams)
    expected = offline.state_dict()
    assert all(torch.equal(value, expected[key])
               for key, value in causal.state_dict().items())

    x = torch.randn(2 * T, 3, 32, 32)
    with torch.no_grad():
        before, after = offline.backbone(x), causal.backbone(x)
    # Same weights, other frames blended: the causal form needs training.
    assert (before - after).norm() > 0.05 * before.norm()


def mirrored_clips(pairs, seed):
    """``pairs`` generated clips of an object moving right (label 0), each
    with the same frames played backwards (moving left, label 1): only
    frame order tells the two classes apart.

    Returns:
        tuple: Frames of shape (2 * pairs * T, 3, 32, 32), normalised, and
        labels of shape (2 * pairs, ).
    """
    clips = [render_clip(label, np.random.default_rng([seed, i]),
                         num_frames=T, size=32)
             for i in range(pairs) for label in (0, 1)]
    frames = torch.from_numpy(np.stack(clips)).float()
    frames = frames.permute(0, 1, 4, 2, 3).flatten(0, 1)
    return (frames - 127.5) / 64, torch.tensor([0, 1] * pairs)


def fit(model, x, labels, iterations, lr):
    """``iterations`` AdamW steps on the whole batch (train mode)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr,
                                  weight_decay=1e-4)
    model.train()
    for _ in range(iterations):
        loss = F.cross_entropy(logits(model, x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def accuracy(model, x, labels):
    """Top-1 of ``model`` (eval mode) on clips ``x``."""
    with torch.no_grad():
        out = logits(model.eval(), x)
    return (out.argmax(1) == labels).float().mean().item()


@pytest.mark.slow  # 80 training steps of bLVNet-TAM-50: over a minute
def test_causal_finetune_of_converted_model_reaches_offline_accuracy(
        tmp_path):
    train, held_out = mirrored_clips(8, seed=0), mirrored_clips(8, seed=1)
    offline = recognizer(causal=False, num_classes=2)
    offline.init_weights()
    fit(offline, *train, iterations=60, lr=1e-3)
    offline_train, offline_held_out = (accuracy(offline, *clips)
                                       for clips in (train, held_out))
    assert offline_train == 1  # it tells each clip from its reversal
    assert offline_held_out > 0.5

    causal = recognizer(causal=True, num_classes=2)
    load_checkpoint(causal, str(converted_file(offline, tmp_path)),
                    strict=True)
    # The causal form of a model that uses frame order is near chance.
    assert accuracy(causal, *train) <= 0.75

    fit(causal, *train, iterations=20, lr=3e-4)
    assert accuracy(causal, *train) == 1
    assert accuracy(causal, *held_out) >= offline_held_out - 0.125
