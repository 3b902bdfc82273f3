import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmblvnet import zoo
from mmblvnet.models import SegmentHead, TAMNeck, bLResNet

CONFIG = 'configs/blvnet_tam_r50_8x.py'


def tiny_recognizer_cfg(num_segments=4, num_classes=5, **backbone):
    cfg = copy.deepcopy(Config.fromfile(CONFIG).model)
    cfg.backbone.update(num_segments=num_segments, **backbone)
    cfg.cls_head.update(num_classes=num_classes)
    return cfg


def make_batch(num_clips, num_views, num_segments, size=32, num_classes=5):
    inputs = [
        torch.randint(0, 255, (num_views * num_segments, 3, size, size),
                      dtype=torch.uint8) for _ in range(num_clips)
    ]
    samples = [
        ActionDataSample().set_gt_label(i % num_classes)
        for i in range(num_clips)
    ]
    return dict(inputs=inputs, data_samples=samples)


def test_config_builds_the_paper_model():
    cfg = Config.fromfile(CONFIG)
    assert cfg.custom_imports['imports'] == ['mmblvnet']
    assert cfg.default_scope == 'mmaction'
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert isinstance(model.backbone, bLResNet)
    assert model.backbone.depth == 50 and model.backbone.num_segments == 16
    assert isinstance(model.cls_head, SegmentHead)
    assert model.cls_head.num_classes == 174
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.auto_scale_lr.base_batch_size == 64
    assert cfg.train_cfg.max_epochs == 50


def test_flops_and_params_of_paper_model_at_8x2():
    model = MODELS.build(Config.fromfile(CONFIG).model).eval()

    class BackboneAndHead(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone, self.cls_head = model.backbone, model.cls_head

        def forward(self, x):
            return self.cls_head(self.backbone(x), num_segs=16)

    info = get_model_complexity_info(
        BackboneAndHead(),
        inputs=(torch.randn(16, 3, 224, 224), ),
        show_table=False,
        show_arch=False)
    # Paper: 24.0 GFLOPs and 25.0M parameters for bLVNet-TAM-50 8x2.
    assert abs(info['flops'] / 1e9 - 24.0) <= 0.02 * 24.0
    assert abs(info['params'] / 1e6 - 25.0) <= 0.02 * 25.0
    # The zoo table (README, metafile.yml) holds the same measurement.
    assert abs(info['flops'] / 1e9 - zoo.GFLOPS[(50, 8)]) < 0.05
    assert info['params'] == round(zoo.params_m(50, 174) * 1e6)


def test_train_step_reduces_loss_on_a_fixed_batch():
    model = MODELS.build(tiny_recognizer_cfg())
    model.init_weights()
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='AdamW', lr=1e-3)))
    batch = make_batch(2, 1, 4)
    losses = [model.train_step(batch, optim)['loss_cls'].item()
              for _ in range(8)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize('num_views', [1, 2])
def test_test_step_averages_views(num_views):
    model = MODELS.build(tiny_recognizer_cfg()).eval()
    batch = make_batch(3, num_views, 4)
    results = model.test_step(batch)
    assert len(results) == 3
    scores = torch.stack([r.pred_score for r in results])
    assert scores.shape == (3, 5)
    # average_clips='prob' in the config: probabilities summing to one.
    torch.testing.assert_close(scores.sum(1), torch.ones(3))
    if num_views == 2:
        data = model.data_preprocessor(batch, False)
        frames = data['inputs'][0].view(2, 4, 3, 32, 32)
        with torch.no_grad():
            view_scores = [
                model.cls_head(model.backbone(frames[v]), num_segs=4)
                for v in range(2)
            ]
        # Views are merged by the mean over all frames, as in TSN.
        expected = torch.stack(view_scores).mean(0).softmax(-1)[0]
        torch.testing.assert_close(results[0].pred_score, expected)


def test_segment_head_equals_consensus_then_classifier():
    head = SegmentHead(7, 16, dropout_ratio=0.0).eval()
    x = torch.randn(6, 16, 3, 3)
    pooled = x.mean((2, 3)).view(2, 3, 16).mean(1)
    torch.testing.assert_close(
        head(x, num_segs=3), head.fc_cls(pooled), atol=1e-6, rtol=1e-6)


def test_segment_head_init_and_bad_batch():
    head = SegmentHead(1000, 2048)
    assert abs(head.fc_cls.weight.std().item() - 0.001) < 1e-4
    assert torch.all(head.fc_cls.bias == 0)
    with pytest.raises(ValueError, match='num_segs=4'):
        head(torch.randn(6, 2048), num_segs=4)


def resnet_tam_neck_cfg(num_segments=4):
    return dict(
        type='Recognizer2D',
        backbone=dict(
            type='ResNet', depth=18, pretrained=None, out_indices=(2, 3)),
        neck=dict(type='TAMNeck', in_channels=512,
                  num_segments=num_segments),
        cls_head=dict(
            type='TSNHead', num_classes=5, in_channels=512,
            average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCHW'))


def test_stock_resnet_with_tam_neck_and_tsn_head_trains_and_tests():
    model = MODELS.build(resnet_tam_neck_cfg())
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.01)))
    batch = make_batch(2, 1, 4)
    before = model.neck.tam.weight.detach().clone()
    loss = model.train_step(batch, optim)['loss_cls']
    assert torch.isfinite(loss)
    assert not torch.equal(model.neck.tam.weight, before)
    model.eval()
    results = model.test_step(make_batch(2, 2, 4))
    assert results[0].pred_score.shape == (5, )


def test_tam_neck_blends_each_clip_and_pools_time():
    neck = TAMNeck(8, 4)
    maps = torch.randn(2, 8, 8, 3, 3)  # 2 samples x 2 views x 4 frames
    out, aux = neck([torch.randn(2, 4, 8, 3, 3), maps])
    assert out.shape == (2, 8, 1, 3, 3) and aux == {}
    frames = maps.transpose(1, 2).reshape(16, 8, 3, 3)
    expected = neck.tam(frames).view(2, 8, 8, 3, 3).mean(1)
    torch.testing.assert_close(out[:, :, 0], expected)
    with pytest.raises(TypeError, match='out_indices'):
        neck(maps)


def test_blresnet_with_stock_tsn_head():
    cfg = tiny_recognizer_cfg()
    cfg.cls_head = dict(type='TSNHead', num_classes=5, in_channels=2048)
    model = MODELS.build(cfg)
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.01)))
    assert torch.isfinite(
        model.train_step(make_batch(2, 1, 4), optim)['loss_cls'])
