"""The data rows of docs/robustness.md: damaged and odd lists and videos.

Each test writes the file it is about (an unlabelled list, an empty one, a
list saved with a byte order mark, a valid 2x2 px video, a text file named
``.mp4``) and checks the message; docs/robustness.md ("Data") maps each
case to its test.
"""
import re

import numpy as np
import pytest
from helpers import tiny_config, video_dataset, write_list

from mmblvnet.datasets import AnnotationError, BadSampleError
from mmblvnet.datasets.synthetic import write_video
from mmblvnet.engine import RobustRunner


def unlabelled(root, path, lines=2):
    """The first ``lines`` val videos without their labels."""
    text = (root / 'val_list_videos.txt').read_text().splitlines()[:lines]
    path.write_text(''.join(line.split()[0] + '\n' for line in text))
    return path


def test_unlabelled_test_list_is_refused_naming_list_and_lines(
        synthetic_root, tmp_path):
    test_list = unlabelled(synthetic_root, tmp_path / 'val.txt')
    cfg = tiny_config(synthetic_root, tmp_path / 'work', test_list=test_list)
    with pytest.raises(AnnotationError) as error:
        RobustRunner.from_cfg(cfg).test()
    message = str(error.value)
    assert message.startswith(f'{test_list}: line(s) 1, 2 have no label')
    assert ('--cfg-options test_evaluator.type=DumpResults '
            'test_evaluator.out_file_path=preds.pkl') in message


def test_unlabelled_list_runs_inference_without_metrics_when_dumping(
        synthetic_root, tmp_path):
    test_list = unlabelled(synthetic_root, tmp_path / 'val.txt')
    cfg = tiny_config(synthetic_root, tmp_path / 'work', test_list=test_list)
    predictions = tmp_path / 'preds.pkl'
    cfg.test_evaluator = dict(type='DumpResults',
                              out_file_path=str(predictions))
    metrics = RobustRunner.from_cfg(cfg).test()
    assert metrics == {}
    assert predictions.stat().st_size > 0


def test_empty_list_is_an_error_naming_the_file(synthetic_root, tmp_path):
    ann_file = tmp_path / 'empty.txt'
    ann_file.write_text('')
    with pytest.raises(AnnotationError, match=re.escape(
            f'{ann_file}: the list is empty')):
        video_dataset(ann_file, synthetic_root / 'videos')


def test_blank_line_is_an_error_naming_it(synthetic_root, tmp_path):
    ann_file = write_list(synthetic_root, 'train', tmp_path / 'list.txt', 2,
                          extra=['', 'train/00003.mp4 1'])
    with pytest.raises(AnnotationError, match=re.escape(
            f'{ann_file}, line 3: blank line')):
        video_dataset(ann_file, synthetic_root / 'videos')


def test_byte_order_mark_at_the_start_of_a_list_is_named(synthetic_root,
                                                        tmp_path):
    ann_file = write_list(synthetic_root, 'train', tmp_path / 'list.txt', 2)
    ann_file.write_text('\ufeff' + ann_file.read_text(), encoding='utf-8')
    with pytest.raises(AnnotationError, match=re.escape(
            f'{ann_file}, line 1: the file starts with a UTF-8 byte order '
            'mark')):
        video_dataset(ann_file, synthetic_root / 'videos')


def test_valid_2x2_video_is_named_too_small_not_corrupt(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (8, 2, 2, 3),
                                               dtype=np.uint8)
    write_video(str(tmp_path / 'tiny.mp4'), frames)
    (tmp_path / 'list.txt').write_text('tiny.mp4 0\n')
    dataset = video_dataset(tmp_path / 'list.txt', tmp_path)
    with pytest.raises(BadSampleError) as error:
        dataset[0]
    message = str(error.value)
    assert f'{tmp_path}/tiny.mp4 ({tmp_path}/list.txt, line 1)' in message
    assert 'frames of 2x2 px are too small to decode' in message
    assert 'corrupt' not in message


def test_text_file_named_mp4_is_one_named_error_and_little_stderr(
        tmp_path, capfd):
    text = 'not a video, just a long text file\n' * 90_000  # 3.2 MB
    (tmp_path / 'notes.mp4').write_text(text)
    (tmp_path / 'list.txt').write_text('notes.mp4 0\n')
    dataset = video_dataset(tmp_path / 'list.txt', tmp_path)
    capfd.readouterr()
    with pytest.raises(BadSampleError, match=re.escape(
            f'{tmp_path}/notes.mp4 ({tmp_path}/list.txt, line 1): '
            'DecordInit failed (truncated, corrupt or not a video)')):
        dataset[0]
    stderr = capfd.readouterr().err
    assert len(stderr) < 2200, len(stderr)
    assert 'more bytes of decoder output cut' in stderr


class _Drop:
    def __call__(self, results):
        return None


class _NoFrames:
    def __call__(self, results):
        return dict(results, total_frames=0)


class _Boom:
    def __call__(self, results):
        raise KeyError('imgs')


class FakeInit:
    def __call__(self, results):
        raise RuntimeError('cannot find the moov atom')


@pytest.mark.parametrize('transform,reason', [
    (_Drop(), '_Drop dropped the sample'),
    (_NoFrames(), '_NoFrames found no frames (total_frames=0)'),
    (_Boom(), "_Boom failed: KeyError: 'imgs'"),
    (FakeInit(), 'FakeInit failed (truncated, corrupt or not a video): '
     'RuntimeError: cannot find the moov atom'),
])
def test_data_set_and_video_recognizer_word_a_failure_alike(
        transform, reason, tmp_path):
    """One wording (failure_reason) for the data sets' BadSampleError and
    the demo's VideoError, after the file (and the data set's list
    line)."""
    from mmblvnet.apis.recognize import NamedErrorPipeline, VideoError
    from mmblvnet.datasets.pipeline import (
        TransformFailure,
        failure_reason,
        run_transforms,
    )
    video = str(tmp_path / 'clip.mp4')
    with pytest.raises(TransformFailure) as failure:
        run_transforms([transform], dict(filename=video))
    assert failure_reason(failure.value, video) == reason
    pipeline = NamedErrorPipeline([])
    pipeline.transforms = [transform]
    with pytest.raises(VideoError, match=re.escape(f'{video}: {reason}')):
        pipeline(dict(filename=video))
