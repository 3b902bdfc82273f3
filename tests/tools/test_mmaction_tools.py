"""MMAction2's own tools, unmodified, on the paper config.

The tools run as commands (``python -m mim run mmaction TOOL ...``, as a
user runs them) on generated videos and a checkpoint with random weights;
they take minutes on a CPU and are marked ``slow``. The tests without the
mark check the pieces the tools rely on in process: the DRN start-up
hook in the built wheels, ``StrictLoadHook`` with MMAction2's
``FeatureHead`` and the Grad-CAM layer of bLResNet.
"""
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import REPO, environment, output, run
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmaction.utils import GradCAM
from mmengine.config import Config

from mmblvnet.converters.key_rules import CheckpointKeyError
from mmblvnet.datasets.synthetic import generate
from mmblvnet.engine import StrictLoadHook

PAPER = 'configs/blvnet_tam_r50_8x.py'
CLASSES = 2
PTH_LINE = 'import mmblvnet_drn_stub; mmblvnet_drn_stub.install()\n'
# The files a wheel is built from.
SOURCES = ('setup.py', 'setup.cfg', 'pyproject.toml', 'README.md',
           'mmblvnet_drn_stub.py', 'mmblvnet')


# --- the DRN stub reaches every Python process -----------------------------

def build(kind, tmp_path):
    """Build a ``wheel`` or ``editable`` wheel of a copy of the sources."""
    source = tmp_path / 'source'
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copy(REPO / name, source / name)
    out = tmp_path / kind
    command = (f'from setuptools import build_meta; '
               f'build_meta.build_{kind}({str(out)!r})')
    result = subprocess.run([sys.executable, '-c', command], cwd=source,
                            capture_output=True, text=True,
                            env=environment())
    assert result.returncode == 0, output(result)[-3000:]
    return zipfile.ZipFile(next(out.glob('*.whl')))


def import_mmaction_models(tmp_path, site_dir=None):
    """``import mmaction.models`` in a process without site's start-up
    files, after ``site.addsitedir(site_dir)`` (which reads its .pth)."""
    paths = [path for path in sys.path if path and not os.path.exists(
        os.path.join(path, 'mmblvnet_drn_stub.py'))]
    code = (f'import site, sys\nsys.path.extend({paths!r})\n' +
            (f'site.addsitedir({str(site_dir)!r})\n' if site_dir else '') +
            'import mmaction.models\n'
            'from mmaction.registry import MODELS\n'
            "MODELS.build(dict(type='DRN'))\n")
    env = {key: value for key, value in environment().items()
           if key != 'PYTHONPATH'}
    return subprocess.run([sys.executable, '-S', '-c', code], cwd=tmp_path,
                          capture_output=True, text=True, env=env)


@pytest.fixture
def can_build_wheels():
    try:
        from setuptools.command.bdist_wheel import bdist_wheel  # noqa: F401
    except ImportError:
        pytest.importorskip('wheel')


@pytest.mark.parametrize('kind', ['wheel', 'editable'])
def test_wheels_install_the_drn_startup_hook_into_site_packages(
        kind, tmp_path, can_build_wheels):
    wheel = build(kind, tmp_path)
    assert wheel.read('mmblvnet_drn_stub.pth').decode() == PTH_LINE


def test_installed_hook_lets_mmaction_models_import_without_mmblvnet(
        tmp_path, can_build_wheels):
    site_dir = tmp_path / 'site-packages'
    build('wheel', tmp_path).extractall(site_dir)
    without = import_mmaction_models(tmp_path)
    assert "No module named 'mmaction.models.localizers.drn'" in output(
        without)
    installed = import_mmaction_models(tmp_path, site_dir)
    # The import succeeds; building DRN is the stub's clear error.
    assert 'ImportError: The DRN localizer is missing from the installed ' \
        'mmaction2 1.2.0 wheel' in output(installed), output(installed)


# --- what the tools need, in process ---------------------------------------

def paper_model(**head):
    cfg = Config.fromfile(PAPER)
    cfg.model.backbone.update(depth=50, num_segments=4)
    cfg.model.cls_head.update(num_classes=CLASSES, **head)
    return MODELS.build(cfg.model)


def runner_of(model):
    return type('Runner', (), dict(model=model, cfg=Config(),
                                   work_dir='.'))()


def test_strict_load_lets_feature_head_drop_the_classifier_keys():
    checkpoint = {'state_dict': paper_model().state_dict()}
    extractor = paper_model()
    extractor.cls_head = MODELS.build(dict(type='FeatureHead'))
    StrictLoadHook().after_load_checkpoint(runner_of(extractor), checkpoint)
    del checkpoint['state_dict']['backbone.conv1.weight']
    with pytest.raises(CheckpointKeyError, match='backbone.conv1.weight'):
        StrictLoadHook().after_load_checkpoint(runner_of(extractor),
                                               checkpoint)


def test_gradcam_on_per_frame_layer_gives_one_map_per_frame():
    # What vis_cam does with --target-layer-name backbone/per_frame.
    frames = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    cam, _ = GradCAM(paper_model(), 'backbone/per_frame')(
        dict(inputs=[frames], data_samples=[ActionDataSample()]))
    assert cam.shape == (1, 4, 64, 64, 3)
    assert torch.isfinite(cam).all()


def test_per_frame_layer_holds_no_weights():
    backbone = paper_model().backbone
    assert not backbone.per_frame.state_dict()
    assert not any(key.startswith('per_frame')
                   for key in backbone.state_dict())


# --- the tools, as commands ------------------------------------------------

@pytest.fixture(scope='module')
def tool_data(tmp_path_factory):
    """Two val videos of 16 frames at 64 px, and a random checkpoint of
    the paper config for two classes (MMEngine format)."""
    root = tmp_path_factory.mktemp('tools')
    generate(str(root / 'data'), clips_per_class=2, num_classes=CLASSES,
             num_frames=16, size=64, val_fraction=0.5)
    cfg = Config.fromfile(PAPER)
    cfg.model.cls_head.num_classes = CLASSES
    torch.save({'meta': {}, 'state_dict': MODELS.build(
        cfg.model).state_dict()}, root / 'random.pth')
    return root


def options(root, split='test'):
    """``--cfg-options`` pointing a split of the paper config at the
    generated videos (two classes, no worker processes)."""
    loader = f'{split}_dataloader'
    return ['--cfg-options', f'model.cls_head.num_classes={CLASSES}',
            f'{loader}.dataset.ann_file={root}/data/val_list_videos.txt',
            f'{loader}.dataset.data_prefix.video={root}/data/videos',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']


def mim(*args):
    return run([sys.executable, '-m', 'mim', *args], timeout=1200)


def hook_is_installed():
    """Whether this environment runs the DRN start-up hook (installed
    package); without it MMAction2's tools fail before reading a config."""
    result = run([sys.executable, '-c', 'import sys; print(any(type(f)'
                  ".__name__ == 'DRNStubFinder' for f in sys.meta_path))"])
    return result.stdout.strip() == 'True'


needs_hook = pytest.mark.skipif(
    not hook_is_installed(),
    reason='the installed mmblvnet predates its start-up hook: run '
    '`pip install -e .` again')


@pytest.mark.slow
def test_print_config_shows_stock_types_and_mmaction2_layout():
    result = mim('run', 'mmaction', 'print_config', PAPER)
    assert result.returncode == 0, output(result)[-3000:]
    assert "type='VideoDataset'" in result.stdout
    assert "data_root = 'data/sthv2/videos'" in result.stdout


@pytest.mark.slow
def test_get_flops_counts_the_paper_flops():
    result = mim('run', 'mmaction', 'get_flops', PAPER, '--shape', '16', '3',
                 '224', '224')
    assert result.returncode == 0, output(result)[-3000:]
    assert 'Flops: 23.9' in result.stdout


@pytest.mark.slow
def test_check_videos_lists_the_corrupt_video(tool_data, tmp_path):
    videos = tmp_path / 'videos'
    shutil.copytree(tool_data / 'data' / 'videos', videos)
    (videos / 'val' / '00001.mp4').write_bytes(b'not a video' * 100)
    invalid = tmp_path / 'invalid.txt'
    result = mim('run', 'mmaction', 'check_videos', PAPER, '--split', 'val',
                 '--nproc', '1', '--output-file', str(invalid),
                 *options(tool_data, 'val')[:-3],
                 f'val_dataloader.dataset.data_prefix.video={videos}')
    assert result.returncode == 0, output(result)[-3000:]
    assert 'Checked 2 videos, 1 are corrupted/missing.' in result.stdout
    assert invalid.read_text() == f'{videos}/val/00001.mp4\n'


@pytest.mark.slow
@needs_hook
def test_mim_test_dump_then_confusion_matrix(tool_data, tmp_path):
    dump = tmp_path / 'preds.pkl'
    result = mim('test', 'mmaction', PAPER, '--checkpoint',
                 str(tool_data / 'random.pth'), '--work-dir',
                 str(tmp_path / 'work'), '--dump', str(dump),
                 *options(tool_data))
    assert result.returncode == 0, output(result)[-3000:]
    assert 'acc/top1' in output(result)
    matrix = tmp_path / 'cm.pkl'
    result = mim('run', 'mmaction', 'confusion_matrix', PAPER, str(dump),
                 '--out', str(matrix))
    assert result.returncode == 0, output(result)[-3000:]
    with open(matrix, 'rb') as f:
        counts = pickle.load(f)
    assert tuple(counts.shape) == (CLASSES, CLASSES)
    assert int(counts.sum()) == 2


@pytest.mark.slow
def test_clip_feature_extraction_writes_features_per_video(tool_data,
                                                           tmp_path):
    out = tmp_path / 'features'
    result = mim('run', 'mmaction', 'clip_feature_extraction', PAPER,
                 str(tool_data / 'random.pth'), str(out), '--video-list',
                 str(tool_data / 'data' / 'val_list_videos.txt'),
                 '--video-root', str(tool_data / 'data' / 'videos'),
                 *options(tool_data)[:2], 'test_dataloader.num_workers=0',
                 'test_dataloader.persistent_workers=False')
    # The tool builds MMEngine's Runner itself (not runner_type): a stock
    # run, whose non-strict load leaves out the classifier's keys.
    assert result.returncode == 0, output(result)[-3000:]
    for name in ('00000', '00001'):
        with open(out / 'val' / f'{name}.mp4.pkl', 'rb') as f:
            features = pickle.load(f)
        assert tuple(features.shape)[-1] == 2048


@pytest.mark.slow
def test_vis_cam_on_the_per_frame_layer(tool_data):
    video = tool_data / 'data' / 'videos' / 'val' / '00000.mp4'
    result = mim('run', 'mmaction', 'vis_cam', PAPER,
                 str(tool_data / 'random.pth'), str(video), '--device', 'cpu',
                 '--target-layer-name', 'backbone/per_frame',
                 *options(tool_data)[:2])
    assert result.returncode == 0, output(result)[-3000:]


def test_documented_layer_name_is_a_module_path():
    # vis_cam walks `_modules` along the '/'-separated name.
    module = paper_model()
    for part in 'backbone/per_frame'.split('/'):
        module = module._modules[part]
    assert isinstance(module, torch.nn.Identity)
    assert Path(REPO / 'docs' / 'tools.md').read_text().count(
        '--target-layer-name backbone/per_frame') >= 1
