"""MMAction2's own ``MMAction2Inferencer(rec=CONFIG, rec_weights=CKPT)``
on the shipped configs: it runs, and gives the scores of tools/demo.py's
checked inference (one view: the inferencer turns ThreeCrop/TenCrop into
CenterCrop)."""
import pytest
import torch
from helpers import REPO
from mmaction.apis.inferencers import MMAction2Inferencer
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from mmblvnet.apis.export import random_weights_
from mmblvnet.apis.recognize import init_checked_recognizer, video_scores

DEMO = REPO / 'configs' / 'demo'


def random_checkpoint(config, path, clip_shape):
    model = MODELS.build(Config.fromfile(str(config)).model)
    random_weights_(model, clip_shape)
    save_checkpoint({'state_dict': model.state_dict()}, str(path))
    return str(path)


def video(synthetic_root):
    with open(synthetic_root / 'val_list_videos.txt') as f:
        name = f.readline().split()[0]
    return str(synthetic_root / 'videos' / name)


def inferencer_scores(config, checkpoint, clip):
    inferencer = MMAction2Inferencer(rec=str(config), rec_weights=checkpoint,
                                     device='cpu')
    (prediction, ) = inferencer(clip)['predictions']
    return torch.tensor(prediction['rec_scores'][0])


@pytest.mark.parametrize('name', [
    'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py',
    pytest.param('blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rawframes.py',
                 marks=pytest.mark.slow),
    pytest.param('tsn-tamneck_r50_1xb8-1x1x8-8e_synthetic-rgb.py',
                 marks=pytest.mark.slow),
])
def test_inferencer_gives_the_checked_inference_scores(
        name, synthetic_root, tmp_path):
    config = DEMO / name
    checkpoint = random_checkpoint(config, tmp_path / 'w.pth',
                                   (8, 3, 32, 32))
    clip = video(synthetic_root)
    found = inferencer_scores(config, checkpoint, clip)
    expected = video_scores(
        init_checked_recognizer(str(config), checkpoint), clip)
    assert found.shape == (6, )
    assert float(expected.max() - expected.min()) > 1e-3  # not constant
    torch.testing.assert_close(found, expected, atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    REPO / 'configs' / 'blvnet_tam_r50_8x.py',
    REPO / 'configs' / 'zoo' / 'blvnet-tam_r50_8xb8-1x1x16-50e_sthv1-rgb.py',
    REPO / 'configs' / 'zoo' /
    'blvnet-tam_r50_8xb8-1x1x16-50e_sthv2-rgb_multiview-test.py',
])
def test_inferencer_runs_the_paper_and_zoo_configs(config, synthetic_root,
                                                   tmp_path):
    checkpoint = random_checkpoint(config, tmp_path / 'w.pth',
                                   (16, 3, 64, 64))
    scores = inferencer_scores(config, checkpoint, video(synthetic_root))
    assert scores.shape == (174, )
    assert float(scores.sum()) == pytest.approx(1.0, abs=1e-4)  # 'prob'
