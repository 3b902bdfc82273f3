"""``import mmblvnet`` leaves stock MMAction2 stock.

In a fresh interpreter: import mmblvnet, then build MMAction2's own
TSN-R50 and TSM-R50 configs (its packaged configs, without the ImageNet
weights they name, at batch 1 and 56 px) on a generated video, train one
iteration, save and load a checkpoint. Every data set, loader, sampler,
loop and hook class involved must be MMAction2's, MMEngine's or torch's,
MMEngine's loader of local checkpoints must be its own, and torch's global
``nn.Module`` hooks must be as before the import.
"""
import json
import subprocess
import sys

from helpers import REPO, environment

CONFIGS = (
    'mmaction::recognition/tsn/'
    'tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py',
    'mmaction::recognition/tsm/'
    'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py',
)

SCRIPT = r'''
import json, sys, tempfile
from pathlib import Path

import cv2
import numpy as np
from torch.nn.modules import module as torch_module


def global_hooks():
    return {name: sorted(map(str, value)) for name, value in
            vars(torch_module).items()
            if name.startswith('_global_') and isinstance(value, dict)}


before = global_hooks()
import mmblvnet  # noqa: F401
after_import = global_hooks()

from mmaction.datasets import RawframeDataset, VideoDataset
from mmaction.registry import DATASETS
from mmengine.hub import get_config
from mmengine.runner import CheckpointLoader, Runner

root = Path(tempfile.mkdtemp())
writer = cv2.VideoWriter(str(root / 'a.mp4'),
                         cv2.VideoWriter_fourcc(*'mp4v'), 8, (80, 64))
for value in range(0, 240, 10):
    writer.write(np.full((64, 80, 3), value, np.uint8))
writer.release()
(root / 'list.txt').write_text('a.mp4 3\n')

classes = {}
for name in sys.argv[1:]:
    cfg = get_config(name)
    cfg.model.backbone.pretrained = None
    if cfg.model.backbone.type == 'ResNetTSM':  # no torchvision weights
        cfg.model.backbone.pretrained2d = False
    cfg.work_dir = str(root / name.split('/')[1])
    cfg.train_cfg.max_epochs = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    loader = cfg.train_dataloader
    loader.update(batch_size=1, num_workers=0, persistent_workers=False)
    loader.dataset.update(ann_file=str(root / 'list.txt'),
                          data_prefix=dict(video=str(root)))
    for transform in loader.dataset.pipeline:
        if 'input_size' in transform:
            transform.input_size = 56
        if transform.type == 'Resize':
            transform.update(scale=(56, 56), keep_ratio=False)
    runner = Runner.from_cfg(cfg)
    runner.train()
    runner.load_checkpoint(str(Path(cfg.work_dir) / 'epoch_1.pth'))
    used = [runner.train_dataloader.dataset, runner.train_dataloader,
            runner.train_dataloader.sampler,
            runner.train_dataloader.batch_sampler, runner.train_loop,
            *runner.hooks]
    classes[name] = sorted({f'{type(obj).__module__}.{type(obj).__name__}'
                            for obj in used})

print(json.dumps(dict(
    hooks_kept=before == after_import == global_hooks(),
    stock_data_sets=[DATASETS.get('VideoDataset') is VideoDataset,
                     DATASETS.get('RawframeDataset') is RawframeDataset],
    local_loader=CheckpointLoader._get_checkpoint_loader('a.pth').__name__,
    classes=classes)))
'''


def test_import_leaves_stock_tsn_and_tsm_runs_stock(tmp_path):
    done = subprocess.run([sys.executable, '-c', SCRIPT, *CONFIGS],
                          capture_output=True, text=True, cwd=tmp_path,
                          env=environment(PYTHONPATH=str(REPO)), timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state['hooks_kept']
    assert state['stock_data_sets'] == [True, True]
    assert state['local_loader'] == 'load_from_local'
    assert set(state['classes']) == set(CONFIGS)
    for name, used in state['classes'].items():
        assert 'mmaction.datasets.video_dataset.VideoDataset' in used
        assert 'mmengine.runner.loops.EpochBasedTrainLoop' in used
        assert 'mmengine.hooks.checkpoint_hook.CheckpointHook' in used
        foreign = [path for path in used if not path.startswith(
            ('mmaction.', 'mmengine.', 'torch.'))]
        assert not foreign, (name, foreign)
