"""Issue 8: a named error for each failure, and nothing lost.

Every test provokes its case for real (a corrupt file written here, a
SIGKILL of a training process, an exploding learning rate) and checks
the message and that no data or checkpoint was lost. docs/robustness.md
maps each case to its test.
"""
import logging
import math
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import (
    DEMO,
    REPO,
    assert_ok,
    data_options,
    environment,
    output,
    run,
    tiny_config,
    train_command,
    video_dataset,
    wait_for,
    write_list,
)
from mmaction.registry import DATASETS, MODELS, TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.config import Config
from mmengine.logging import HistoryBuffer, MMLogger

from mmblvnet.converters.key_rules import CheckpointKeyError
from mmblvnet.datasets import AnnotationError, BadSampleError
from mmblvnet.datasets.annotation import read_dataset_list
from mmblvnet.datasets.synthetic import render_clip, write_video
from mmblvnet.engine import RobustRunner, StrictLoadHook

# --- T, batch and pipeline frame count ------------------------------------

@pytest.mark.parametrize('num_segments', [0, 1, 3, 7])
def test_num_segments_not_positive_even_is_a_value_error_naming_it(
        num_segments):
    with pytest.raises(ValueError, match=f'num_segments={num_segments}'):
        MODELS.build(dict(type='bLResNet', depth=50,
                          num_segments=num_segments))


def test_batch_not_a_multiple_of_num_segments_names_the_shape():
    backbone = MODELS.build(dict(type='bLResNet', depth=50, num_segments=4))
    with pytest.raises(ValueError,
                       match=r'num_segments=4.*\(6, 3, 32, 32\)'):
        backbone(torch.randn(6, 3, 32, 32))


def test_pipeline_frames_differing_from_num_segments_fail_before_training(
        synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root, tmp_path)
    cfg.train_dataloader.dataset.pipeline[1].num_clips = 4
    runner = RobustRunner.from_cfg(cfg)
    with pytest.raises(ValueError, match=re.escape(
            'model.backbone.num_segments=8, but train_dataloader.dataset.'
            'pipeline[1] (SampleFrames) samples num_clips=4')):
        runner.train()
    assert not list(tmp_path.glob('*.pth'))


# --- input sizes -----------------------------------------------------------

@pytest.mark.parametrize('size', [(1, 1), (31, 31), (33, 47), (17, 200)])
def test_any_input_size_gives_a_map_of_a_32nd_rounded_up(size):
    backbone = MODELS.build(dict(type='bLResNet', depth=50,
                                 num_segments=4)).eval()
    with torch.no_grad():
        features = backbone(torch.randn(4, 3, *size))
    assert features.shape == (4, 2048, math.ceil(size[0] / 32),
                              math.ceil(size[1] / 32))


def test_training_works_at_tiny_and_non_square_sizes():
    backbone = MODELS.build(dict(type='bLResNet', depth=50, num_segments=2))
    features = backbone(torch.randn(4, 3, 16, 40))
    features.mean().backward()
    assert features.shape == (4, 2048, 1, 2)


def test_one_pair_per_batch_below_33_px_cannot_train_batchnorm():
    # One clip of T=2 gives layer4 one frame; at <= 32 px that is one value
    # per channel, which BatchNorm cannot normalise in training.
    backbone = MODELS.build(dict(type='bLResNet', depth=50, num_segments=2))
    with pytest.raises(ValueError, match='larger than 32 px on one side'):
        backbone(torch.randn(2, 3, 32, 32))
    assert backbone(torch.randn(2, 3, 33, 32)).shape == (2, 2048, 2, 1)


# --- unreadable samples ----------------------------------------------------

def spoil(path, kind):
    """Make the video at ``path`` missing, empty, truncated or corrupt."""
    if kind == 'missing':
        path.unlink()
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    else:
        path.write_bytes(np.random.default_rng(0).bytes(4096))


@pytest.fixture
def videos(synthetic_root, tmp_path):
    """A private copy of the training videos (tests spoil some)."""
    folder = tmp_path / 'videos'
    shutil.copytree(synthetic_root / 'videos', folder)
    return folder


REASONS = {
    'missing': 'file not found',
    'empty': r'empty file \(0 bytes\)',
    'truncated': r'DecordInit failed \(truncated, corrupt or not a video\)',
    'corrupt': r'DecordInit failed \(truncated, corrupt or not a video\)',
}


@pytest.mark.parametrize('kind', REASONS)
def test_unreadable_video_is_an_error_naming_file_line_and_reason(
        kind, synthetic_root, videos, tmp_path):
    ann_file = write_list(synthetic_root, 'train', tmp_path / 'list.txt', 4)
    spoil(videos / 'train' / '00002.mp4', kind)
    dataset = video_dataset(ann_file, videos)
    assert dataset[1]['inputs'].shape == (8, 3, 32, 32)
    with pytest.raises(BadSampleError) as error:
        dataset[2]
    message = str(error.value)
    assert f'{videos}/train/00002.mp4 ({ann_file}, line 3)' in message
    assert re.search(REASONS[kind], message), message
    assert "on_bad_sample='skip'" in message


@pytest.fixture
def logged():
    """Messages logged through MMEngine's current logger."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def test_skip_logs_the_file_and_trains_on_another_sample(
        synthetic_root, videos, tmp_path, logged):
    ann_file = write_list(synthetic_root, 'train', tmp_path / 'list.txt', 4)
    spoil(videos / 'train' / '00000.mp4', 'corrupt')
    dataset = video_dataset(ann_file, videos, on_bad_sample='skip')
    dataset.dataset.pipeline.transforms[-1].meta_keys = ('filename', )
    sample = dataset[0]
    assert sample['data_samples'].metainfo['filename'] != (
        f'{videos}/train/00000.mp4')
    skipped = f'skipped {videos}/train/00000.mp4 ({ann_file}, line 1)'
    assert any(skipped in message for message in logged)
    assert (videos / 'train' / '00001.mp4').is_file()


def test_skip_still_raises_in_test_mode(synthetic_root, videos, tmp_path):
    ann_file = write_list(synthetic_root, 'val', tmp_path / 'list.txt', 2)
    spoil(videos / 'val' / '00000.mp4', 'empty')
    dataset = video_dataset(ann_file, videos, on_bad_sample='skip',
                            test_mode=True)
    with pytest.raises(BadSampleError, match='only skips in training'):
        dataset[0]


def test_many_bad_samples_in_a_row_point_at_the_pipeline(
        synthetic_root, tmp_path):
    ann_file = write_list(synthetic_root, 'train', tmp_path / 'list.txt', 4)
    dataset = video_dataset(ann_file, tmp_path / 'no-such-root',
                            on_bad_sample='skip', max_bad_in_a_row=3)
    with pytest.raises(BadSampleError, match='4 samples in a row'):
        dataset[0]


def test_short_video_repeats_frames_as_mmaction2_samples(tmp_path):
    frames = render_clip(0, np.random.default_rng(0), num_frames=3, size=32)
    write_video(str(tmp_path / 'short.mp4'), frames)
    (tmp_path / 'list.txt').write_text('short.mp4 0\n')
    dataset = video_dataset(tmp_path / 'list.txt', tmp_path)
    dataset.dataset.pipeline.transforms[-1].meta_keys = ('total_frames',
                                                 'frame_inds')
    sample = dataset[0]
    assert sample['inputs'].shape == (8, 3, 32, 32)
    assert sample['data_samples'].metainfo['total_frames'] == 3
    assert sorted(set(sample['data_samples'].metainfo['frame_inds'])) == [
        0, 1, 2]


def test_frame_folder_with_fewer_frames_than_listed_names_the_frame(
        synthetic_root, tmp_path):
    frames = tmp_path / 'rawframes'
    shutil.copytree(synthetic_root / 'rawframes' / 'train' / '00000',
                    frames / '00000')
    for index in (7, 8):
        (frames / '00000' / f'img_{index:05d}.jpg').unlink()
    (tmp_path / 'list.txt').write_text('00000 8 0\n')
    pipeline = [
        dict(type='SampleFrames', clip_len=1, frame_interval=1,
             num_clips=8, test_mode=True),
        dict(type='RawFrameDecode'),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs'),
    ]
    dataset = DATASETS.build(dict(type='CheckedDataset', dataset=dict(
        type='RawframeDataset', ann_file=str(tmp_path / 'list.txt'),
        data_prefix=dict(img=str(frames)), filename_tmpl='img_{:05d}.jpg',
        pipeline=pipeline, test_mode=True)))
    with pytest.raises(BadSampleError,
                       match=r'00000 \(.*list.txt, line 1\): RawFrameDecode'
                       r' failed.*img_00007.jpg'):
        dataset[0]


def test_training_with_skip_finishes_and_logs_the_skipped_video(
        synthetic_root, videos, tmp_path):
    spoil(videos / 'train' / '00001.mp4', 'truncated')
    cfg = tiny_config(synthetic_root, tmp_path / 'work')
    cfg.train_dataloader.dataset.data_prefix.video = str(videos)
    cfg.robust_cfg.on_bad_sample = 'skip'
    RobustRunner.from_cfg(cfg).train()
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    log = next((tmp_path / 'work').glob('*/*.log')).read_text()
    assert f'skipped {videos}/train/00001.mp4' in log


# --- annotation lists ------------------------------------------------------

@pytest.mark.parametrize('line, reason', [
    ('train/00001.mp4 one', "label 'one' is not an integer"),
    ('train/00001.mp4 1 2', '2 labels but multi_class=False'),
])
def test_malformed_video_list_line_names_file_and_line(
        line, reason, synthetic_root, tmp_path):
    ann_file = write_list(synthetic_root, 'train', tmp_path / 'list.txt', 2,
                          extra=[line])
    with pytest.raises(AnnotationError) as error:
        video_dataset(ann_file, synthetic_root / 'videos')
    assert str(error.value).startswith(f'{ann_file}, line 3: {reason}')


@pytest.mark.parametrize('line, reason', [
    ('train/00000', '1 field(s)'),
    ('train/00000 eight 0', "frame count 'eight' is not an integer"),
])
def test_malformed_rawframe_list_line_names_file_and_line(
        line, reason, tmp_path):
    ann_file = tmp_path / 'list.txt'
    ann_file.write_text(f'train/00001 8 1\n{line}\n')
    with pytest.raises(AnnotationError, match=re.escape(
            f'{ann_file}, line 2: {reason}')):
        read_dataset_list(dict(type='RawframeDataset',
                               ann_file=str(ann_file)))


def test_label_out_of_range_fails_before_training_naming_the_line(
        synthetic_root, tmp_path):
    ann_file = write_list(synthetic_root, 'train', tmp_path / 'list.txt', 3,
                          extra=['train/00003.mp4 9'])
    runner = RobustRunner.from_cfg(
        tiny_config(synthetic_root, tmp_path / 'work', train_list=ann_file))
    with pytest.raises(AnnotationError, match=re.escape(
            f'{ann_file}: line 4: label 9; labels must be 0..5 '
            '(model.cls_head.num_classes=6)')):
        runner.train()
    assert not list((tmp_path / 'work').glob('*.pth'))


# --- checkpoints that do not fit -------------------------------------------

def save_state_dict(path, state_dict):
    torch.save({'meta': {}, 'state_dict': state_dict}, path)
    return path


def demo_model(num_classes=6):
    cfg = Config.fromfile(str(DEMO))
    cfg.model.cls_head.num_classes = num_classes
    return MODELS.build(cfg.model)


def test_checkpoint_of_other_num_classes_is_refused_with_the_option_hint(
        synthetic_root, tmp_path):
    checkpoint = save_state_dict(tmp_path / 'four.pth',
                                 demo_model(4).state_dict())
    cfg = tiny_config(synthetic_root, tmp_path / 'work')
    cfg.load_from = str(checkpoint)
    runner = RobustRunner.from_cfg(cfg)
    before = runner.model.cls_head.fc_cls.weight.clone()
    with pytest.raises(CheckpointKeyError) as error:
        runner.test()
    message = str(error.value)
    assert f'{checkpoint} does not fit the model (2 key(s))' in message
    assert 'wrong shape: cls_head.fc_cls.weight: checkpoint (4, 2048)' in (
        message)
    assert '--cfg-options model.cls_head.num_classes=4' in message
    assert torch.equal(runner.model.cls_head.fc_cls.weight, before)


def test_checkpoint_of_another_model_lists_missing_and_unexpected_keys(
        synthetic_root, tmp_path):
    state_dict = demo_model().state_dict()
    del state_dict['backbone.layer4.0.conv1.weight']
    state_dict['backbone.layer3.9.conv1.weight'] = torch.zeros(1)
    cfg = tiny_config(synthetic_root, tmp_path / 'work')
    cfg.load_from = str(save_state_dict(tmp_path / 'other.pth', state_dict))
    with pytest.raises(CheckpointKeyError) as error:
        RobustRunner.from_cfg(cfg).test()
    assert error.value.keys == ['missing: backbone.layer4.0.conv1.weight',
                                'unexpected: backbone.layer3.9.conv1.weight']


def test_released_ibm_file_is_refused_with_the_converter_hint(
        synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root, tmp_path / 'work')
    cfg.load_from = str(tmp_path / 'ibm.pth')
    torch.save({'module.baseline_model.conv1.weight': torch.zeros(1)},
               cfg.load_from)
    with pytest.raises(CheckpointKeyError,
                       match='convert it with tools/convert_ibm_checkpoint'):
        RobustRunner.from_cfg(cfg).test()


def test_ignore_keys_lets_a_head_of_other_classes_fine_tune():
    model = demo_model()
    source = demo_model(4).state_dict()
    runner = type('Runner', (), dict(model=model, cfg=Config(),
                                     work_dir='.'))()
    StrictLoadHook(ignore_keys=[r'^cls_head\.']).after_load_checkpoint(
        runner, {'state_dict': source})
    with pytest.raises(CheckpointKeyError):
        StrictLoadHook().after_load_checkpoint(runner, {'state_dict': source})


def test_mim_test_refuses_a_checkpoint_of_other_num_classes(synthetic_root,
                                                           tmp_path):
    checkpoint = save_state_dict(tmp_path / 'four.pth',
                                 demo_model(4).state_dict())
    result = run(['mim', 'test', 'mmaction', str(DEMO), '--checkpoint',
                  str(checkpoint), '--work-dir', str(tmp_path / 'work'),
                  '--cfg-options', *data_options(synthetic_root, tmp_path)])
    assert result.returncode != 0
    assert 'CheckpointKeyError' in output(result)
    assert 'model.cls_head.num_classes=4' in output(result)


# --- untrusted checkpoints -------------------------------------------------

class RunsACommand:
    """Unpickling this would run ``touch`` (os.system via __reduce__)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class ReachesAnAttribute:
    """Unpickling this would call getattr(HistoryBuffer, 'update')."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, 'update')


def test_checkpoint_with_other_globals_is_refused_and_never_runs(
        synthetic_root, tmp_path):
    marker = tmp_path / 'ran'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': RunsACommand(marker)}, evil)
    with pytest.raises(pickle.UnpicklingError,
                       match='Weights only load failed(.|\n)*system'):
        torch.load(evil)
    cfg = tiny_config(synthetic_root, tmp_path / 'work')
    cfg.load_from = str(evil)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        RobustRunner.from_cfg(cfg).test()
    assert not marker.exists()


def test_getattr_beyond_history_buffer_statistics_is_refused(tmp_path):
    torch.save({'meta': ReachesAnAttribute()}, tmp_path / 'getattr.pth')
    with pytest.raises(pickle.UnpicklingError,
                       match=r"refused getattr\(.*'update'\)"):
        torch.load(tmp_path / 'getattr.pth')


# --- kill -9 ---------------------------------------------------------------

STALLING_TRAIN = '''\
"""tools/train.py whose write of one file stops half-way (to be killed)."""
import builtins
import os
import sys
import time

sys.path.insert(0, 'tools')  # run from the repository root
from mmaction_tool import train  # noqa: E402

MARKER, TARGET = sys.argv[1], sys.argv[2]
real_open = builtins.open


class HalfWrite:
    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        self.handle.write(data[:len(data) // 2])
        self.handle.flush()
        real_open(MARKER, 'w').close()
        time.sleep(600)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def __getattr__(self, name):
        return getattr(self.handle, name)


def stalling_open(file, mode='r', *args, **kwargs):
    handle = real_open(file, mode, *args, **kwargs)
    if TARGET in os.path.basename(str(file)) and 'w' in mode:
        return HalfWrite(handle)
    return handle


builtins.open = stalling_open
train(sys.argv[3:])
'''


def test_kill_while_writing_a_checkpoint_keeps_the_last_one_and_resumes(
        synthetic_root, tmp_path):
    work = tmp_path / 'work'
    options = [*data_options(synthetic_root, tmp_path, epochs=2,
                             validate=False),
               'default_hooks.checkpoint.max_keep_ckpts=1']
    script = tmp_path / 'stalling_train.py'
    script.write_text(STALLING_TRAIN)
    marker = tmp_path / 'writing'
    process = subprocess.Popen(
        train_command(work, *options,
                      tool=(str(script), str(marker), 'epoch_2.pth')),
        cwd=REPO, env=environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_for(marker, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    # Killed half-way through epoch_2: epoch_1 and the pointer are intact.
    assert not (work / 'epoch_2.pth').exists()
    assert len(list(work.glob('epoch_2.pth.part-*'))) == 1
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    assert torch.load(work / 'epoch_1.pth')['meta']['epoch'] == 1
    result = run(train_command(work, *options) + ['--resume'])
    assert_ok(result)
    assert 'resumed epoch: 1' in output(result)
    assert 'half-written by a killed run' in output(result)
    assert torch.load(work / 'epoch_2.pth')['meta']['epoch'] == 2
    assert not list(work.glob('*.part-*'))
    assert not (work / 'epoch_1.pth').exists()  # rotated after the save


def test_old_checkpoints_are_deleted_only_after_the_new_one_is_saved(
        synthetic_root, tmp_path, monkeypatch):
    cfg = tiny_config(synthetic_root, tmp_path, epochs=2)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    runner = RobustRunner.from_cfg(cfg)
    on_disk = {}
    save = runner.save_checkpoint

    def recording_save(out_dir, filename, *args, **kwargs):
        save(out_dir, filename, *args, **kwargs)
        on_disk[filename] = sorted(p.name for p in tmp_path.glob('*.pth'))

    monkeypatch.setattr(runner, 'save_checkpoint', recording_save)
    runner.train()
    assert on_disk['epoch_2.pth'] == ['epoch_1.pth', 'epoch_2.pth']
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_2.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_2.pth')


# --- NaN / Inf loss --------------------------------------------------------

def test_nan_loss_stops_naming_the_iteration_and_keeps_the_checkpoint(
        synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root, tmp_path, epochs=2)
    cfg.param_scheduler = [dict(type='MultiStepLR', by_epoch=True,
                                milestones=[1], gamma=1e33)]
    runner = RobustRunner.from_cfg(cfg)
    with pytest.raises(FloatingPointError, match=re.escape(
            f'at iteration 4 (epoch 2); training stopped before this update '
            f'and the last checkpoint, {tmp_path}/epoch_1.pth, is kept')):
        runner.train()
    assert not (tmp_path / 'epoch_2.pth').exists()
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_1.pth')
    weights = torch.load(tmp_path / 'epoch_1.pth')['state_dict']
    assert all(torch.isfinite(w).all() for w in weights.values()
               if w.is_floating_point())


@TRANSFORMS.register_module(force=True)
class PoisonForTest(BaseTransform):
    """Float frames, all NaN for one video (a poisoned batch)."""

    def __init__(self, filename):
        self.filename = filename

    def transform(self, results):
        imgs = np.asarray(results['imgs'], dtype=np.float32)
        if results['filename'].endswith(self.filename):
            imgs[:] = np.nan
        results['imgs'] = list(imgs)
        return results


def test_skip_mode_skips_a_poisoned_batch_and_saves_finite_weights(
        synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root, tmp_path)
    cfg.train_dataloader.dataset.pipeline.insert(
        4, dict(type='PoisonForTest', filename='00002.mp4'))
    cfg.custom_hooks = [dict(type='NonFiniteLossHook',
                             on_non_finite='skip')]
    RobustRunner.from_cfg(cfg).train()
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert re.search(r'loss = nan at iteration \d \(epoch 1\): update '
                     'skipped', log)
    weights = torch.load(tmp_path / 'epoch_1.pth')['state_dict']
    assert all(torch.isfinite(w).all() for w in weights.values()
               if w.is_floating_point())


# --- --amp on CPU ----------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason='checks a CPU box')
def test_amp_on_cpu_is_a_clear_error_in_our_train_tool(tmp_path):
    result = run([sys.executable, 'tools/train.py', str(DEMO), '--amp',
                  '--work-dir', str(tmp_path)])
    assert result.returncode != 0
    assert 'error: --amp needs CUDA' in output(result)
    assert 'train without --amp on CPU' in output(result)
    assert 'Traceback' not in output(result)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks a CPU box')
def test_amp_on_cpu_is_a_clear_error_in_mim_train(synthetic_root, tmp_path):
    result = run(['mim', 'train', 'mmaction', str(DEMO), '--amp',
                  '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                  *data_options(synthetic_root, tmp_path)])
    assert result.returncode != 0
    assert ('ValueError: --amp needs CUDA (MMEngine\'s AmpOptimWrapper is '
            'CUDA-only) and this machine has none; train without --amp on '
            'CPU') in output(result)
    assert not list((tmp_path / 'work').glob('*.pth'))


@pytest.mark.parametrize('head', ['SegmentHead', 'TSNHead'])
def test_robust_runner_refuses_a_head_of_other_in_channels(head):
    from mmaction.registry import MODELS

    from mmblvnet.engine.robust_runner import check_head_channels
    model = MODELS.build(dict(
        type='Recognizer2D',
        backbone=dict(type='bLResNet', depth=50, num_segments=4),
        cls_head=dict(type=head, num_classes=5, in_channels=1024)))
    with pytest.raises(ValueError, match=re.escape(
            'model.cls_head.in_channels=1024 but the backbone bLResNet '
            'outputs 2048 channels; set model.cls_head.in_channels=2048')):
        check_head_channels(model)
