"""Small runs of the demo config for tests: in process and as commands.

The runs use a few clips of the session's tiny synthetic data set
(``conftest.synthetic_root``), batch 2, no data-loader workers in process.
"""
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from mmaction.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import save_checkpoint

from mmblvnet import quickstart
from mmblvnet.datasets.annotation import read_dataset_list

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / quickstart.DEMO_CONFIG
PAPER = REPO / 'configs' / 'blvnet_tam_r50_8x.py'
# The paper's model at T=4, 5 classes, reading 64x64 frames of a video.
SMALL_CONFIG = f"""
_base_ = [{str(PAPER)!r}]
model = dict(
    backbone=dict(num_segments=4), cls_head=dict(num_classes=5))
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=4,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
"""
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def load_tool(relative: str) -> ModuleType:
    """A script of this repository, e.g. ``'tools/demo.py'``, imported as
    a module (tools are scripts, not a package), its folder on
    ``sys.path`` as Python runs a script (tools import their siblings)."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(
        relative.replace('/', '_').removesuffix('.py'), path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8),
    dict(type='DecordDecode'),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]


def random_model_files(root: Path, config_text: str, clip_shape,
                       seed: int = 0):
    """``root/small.py`` holding ``config_text`` and ``root/w.pth``, a
    checkpoint of its model with random, input-dependent weights
    (``random_weights_`` on clips of ``clip_shape``, (T, C, H, W)).

    Returns:
        tuple: The config path and the model (eval mode).
    """
    from mmblvnet.apis.export import random_weights_
    init_default_scope('mmaction')
    config = root / 'small.py'
    config.write_text(config_text)
    model = random_weights_(MODELS.build(Config.fromfile(config).model),
                            clip_shape, seed=seed)
    save_checkpoint({'state_dict': model.state_dict()}, str(root / 'w.pth'))
    return config, model.eval()


def video_dataset(ann_file, root, test_mode=False, **kwargs):
    """MMAction2's ``VideoDataset`` of 8-frame samples (its list checked
    first), in mmblvnet's ``CheckedDataset`` (``kwargs``: its
    arguments)."""
    dataset = dict(type='VideoDataset', ann_file=str(ann_file),
                   data_prefix=dict(video=str(root)), pipeline=PIPELINE,
                   test_mode=test_mode)
    read_dataset_list(dataset)
    return DATASETS.build(dict(type='CheckedDataset', dataset=dataset,
                               **kwargs))


def write_list(root, split, path, lines=None, extra=()):
    """Write the first ``lines`` lines of a split's video list, then the
    ``extra`` lines, to ``path`` (paths stay relative to root/videos)."""
    text = (Path(root) / f'{split}_list_videos.txt').read_text().splitlines()
    Path(path).write_text('\n'.join([*text[:lines], *extra]) + '\n')
    return Path(path)


def tiny_config(root, work_dir, epochs=1, train_list=None, test_list=None,
                validate=False, size=32):
    """The demo config on a few clips of ``root``, for
    ``RobustRunner.from_cfg``.

    Args:
        root (Path): The synthetic data set.
        work_dir (Path): The run's work dir.
        epochs (int): Training epochs.
        train_list (Path, optional): Training list; default 4 clips.
        test_list (Path, optional): Val/test list; default 2 clips.
        validate (bool): Keep the validation loop.
        size (int): Frame size fed to the network.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    train_list = train_list or write_list(root, 'train',
                                          work_dir / 'train.txt', 4)
    test_list = test_list or write_list(root, 'val', work_dir / 'val.txt',
                                        2)
    cfg = Config.fromfile(str(DEMO))
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_epochs = epochs
    cfg.default_hooks.logger.interval = 1
    if not validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    for name in LOADERS:
        loader = cfg.get(name)
        if loader is None:
            continue
        loader.batch_size = 2
        loader.num_workers = 0
        loader.persistent_workers = False
        dataset = loader.dataset
        dataset.ann_file = str(train_list if name == LOADERS[0] else
                               test_list)
        dataset.data_prefix = dict(video=str(Path(root) / 'videos'))
        for transform in dataset.pipeline:
            if transform['type'] == 'Resize':
                transform['scale'] = (size, size)
    return cfg


def data_options(root, work_dir, epochs=1, validate=True):
    """``--cfg-options`` pointing the demo config at a few clips of root
    (without the validation loader's keys for ``--no-validate``)."""
    train_list = write_list(root, 'train', Path(work_dir) / 'train.txt', 4)
    test_list = write_list(root, 'val', Path(work_dir) / 'val.txt', 2)
    options = [f'train_cfg.max_epochs={epochs}',
               'default_hooks.logger.interval=1']
    for name in LOADERS:
        if name == 'val_dataloader' and not validate:
            continue
        listed = train_list if name == LOADERS[0] else test_list
        options += [f'{name}.batch_size=2',
                    f'{name}.dataset.ann_file={listed}',
                    f'{name}.dataset.data_prefix.video={root}/videos']
    return options


def environment(**extra):
    """The environment of a command run by a test (one thread each)."""
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
                **extra)


def run(args, timeout=300, **env):
    """Run a command in the repository (``env``: extra environment
    variables); returns the CompletedProcess."""
    return subprocess.run(args, cwd=REPO, env=environment(**env),
                          capture_output=True, text=True, timeout=timeout)


def free_port():
    """A TCP port free on this machine now (for torchrun)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_command(work_dir, *options, tool=('tools/train.py', )):
    """``python tools/train.py DEMO --work-dir W --cfg-options ...``."""
    return [sys.executable, *tool, str(DEMO), '--work-dir', str(work_dir),
            '--no-validate', '--cfg-options', *options]


def output(result):
    """stdout and stderr of a finished command, for asserts."""
    return result.stdout + result.stderr


def assert_ok(result):
    assert result.returncode == 0, output(result)[-4000:]


def wait_for(path, process, timeout=240):
    """Wait until ``path`` exists while ``process`` still runs."""
    deadline = time.time() + timeout
    while not Path(path).exists():
        assert process.poll() is None, 'the process ended before the kill'
        assert time.time() < deadline, f'{path} never appeared'
        time.sleep(0.2)


def logged_warnings(action):
    """Run ``action()``; returns the messages of the warnings MMEngine's
    current logger got meanwhile."""
    messages = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        action()
    finally:
        logger.removeHandler(handler)
    return messages
