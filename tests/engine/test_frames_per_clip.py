"""Issue 17: frames per view must equal num_segments, for every sampler.

``UniformSample(clip_len=16)`` with ``num_segments=8`` used to pass (the
check read only ``num_clips``) and every sample was read as two 8-frame
clips. The check now knows how each MMAction2 sampler counts frames and
also checks the tensor of the first batch of each loop.
"""
import re

import numpy as np
import pytest
from helpers import tiny_config
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from mmblvnet.datasets.sampling import (
    batch_mismatch,
    find_num_segments_mismatch,
    find_pipeline_mismatch,
)
from mmblvnet.engine import RobustRunner


def with_sampler(sampler, loader='train_dataloader'):
    return {loader: dict(dataset=dict(pipeline=[dict(type='DecordInit'),
                                                sampler]))}


# (sampler, frames per view, views) as MMAction2 1.2 samples them.
SAMPLERS = [
    (dict(type='SampleFrames', clip_len=1, num_clips=8), 8, 1),
    (dict(type='SampleFrames', clip_len=2, num_clips=4), 8, 1),
    (dict(type='SampleFrames', clip_len=1, num_clips=8, test_mode=True,
          twice_sample=True), 8, 2),
    (dict(type='DenseSampleFrames', clip_len=1, num_clips=8,
          test_mode=True, num_sample_positions=4), 8, 4),
    (dict(type='UniformSample', clip_len=8, num_clips=3), 8, 1),
    (dict(type='UniformSample', clip_len=8, num_clips=3, test_mode=True),
     8, 3),
    (dict(type='UniformSampleFrames', clip_len=8, num_clips=2,
          test_mode=True), 8, 2),
    (dict(type='UntrimmedSampleFrames', clip_len=8, clip_interval=16), 8,
     None),
    (dict(type='SampleAVAFrames', clip_len=8), 8, 1),
]


@pytest.mark.parametrize('sampler,frames,views', SAMPLERS)
def test_each_mmaction2_sampler_is_counted_as_it_samples(
        sampler, frames, views):
    cfg = with_sampler(sampler)
    assert find_num_segments_mismatch(cfg, frames) is None
    message = find_num_segments_mismatch(cfg, 2 * frames)
    assert message.startswith(
        f'model.backbone.num_segments={2 * frames}, but '
        'train_dataloader.dataset.pipeline[1] (' + sampler['type'])
    pipelines = [('train_dataloader.dataset',
                  cfg['train_dataloader']['dataset']['pipeline'])]
    if views is not None:
        assert batch_mismatch(views * frames, pipelines, frames,
                              'train_dataloader') is None
        assert batch_mismatch(views * frames * 2, pipelines, frames,
                              'train_dataloader')


def test_uniform_sample_clip_len_16_for_8_segments_names_the_key():
    cfg = with_sampler(dict(type='UniformSample', clip_len=16),
                       'val_dataloader')
    assert find_num_segments_mismatch(cfg, 8) == (
        'model.backbone.num_segments=8, but val_dataloader.dataset.'
        'pipeline[1] (UniformSample) samples clip_len=16 frames per view '
        '(its num_clips=1 counts views); the backbone would read every 8 '
        'frames as one clip. Set val_dataloader.dataset.pipeline[1]'
        '.clip_len=8 (or num_segments to 16)')


def test_a_test_pipeline_alone_is_checked_for_inference():
    pipeline = [dict(type='DecordInit'),
                dict(type='UniformSample', clip_len=16, test_mode=True)]
    assert 'Set test_pipeline[1].clip_len=8' in find_pipeline_mismatch(
        pipeline, 8)
    assert find_pipeline_mismatch(pipeline, 16) is None


def test_crops_multiply_the_views_of_the_first_batch():
    pipeline = [
        dict(type='SampleFrames', clip_len=1, num_clips=8, test_mode=True,
             twice_sample=True),
        dict(type='ThreeCrop', crop_size=64)]
    pipelines = [('test_dataloader.dataset', pipeline)]
    assert batch_mismatch(48, pipelines, 8, 'test_dataloader') is None
    assert '6 view(s) of 8' in batch_mismatch(96, pipelines, 8,
                                              'test_dataloader')


def test_uniform_sample_of_16_frames_stops_training_before_a_step(
        synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root, tmp_path)
    cfg.train_dataloader.dataset.pipeline[1] = dict(type='UniformSample',
                                                    clip_len=16)
    with pytest.raises(ValueError, match=re.escape(
            'train_dataloader.dataset.pipeline[1].clip_len=8')):
        RobustRunner.from_cfg(cfg).train()
    assert not list(tmp_path.glob('*.pth'))


@TRANSFORMS.register_module(force=True)
class EveryFrameTwiceForTest(BaseTransform):
    """A sampler the check does not know: each of the 8 frames twice."""

    def transform(self, results):
        frames = np.arange(results['total_frames'])
        results['frame_inds'] = np.concatenate([frames, frames])
        results['clip_len'] = 2 * results['total_frames']
        results['num_clips'] = 1
        results['frame_interval'] = None
        return results


def test_unknown_sampler_is_caught_on_the_first_batch(synthetic_root,
                                                      tmp_path):
    cfg = tiny_config(synthetic_root, tmp_path)
    cfg.train_dataloader.dataset.pipeline[1] = dict(
        type='EveryFrameTwiceForTest')
    with pytest.raises(ValueError, match=re.escape(
            'the first train_dataloader batch holds 16 frames per sample '
            'where its pipeline (with no frame sampler known here, 1 view '
            'assumed) and the crops give 1 view(s) of 8')):
        RobustRunner.from_cfg(cfg).train()
    assert not list(tmp_path.glob('*.pth'))
