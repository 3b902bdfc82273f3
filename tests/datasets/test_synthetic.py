"""The synthetic temporal video generator."""
import json
import os.path as osp

import decord
import numpy as np
import pytest

from mmblvnet.datasets import synthetic
from mmblvnet.datasets.synthetic import (
    CLASSES,
    class_names,
    generate,
    render_clip,
)


def _rng(seed=0, index=0):
    return np.random.default_rng([seed, 0, index])


@pytest.mark.parametrize('pair', range(len(CLASSES) // 2))
def test_reversed_class_is_the_same_frames_in_reverse_order(pair):
    forward = render_clip(2 * pair, _rng(index=7), 12, 48, distractors=1)
    backward = render_clip(2 * pair + 1, _rng(index=7), 12, 48,
                           distractors=1)
    np.testing.assert_array_equal(backward, forward[::-1])
    assert not np.array_equal(backward, forward)


@pytest.mark.parametrize('pair', range(len(CLASSES) // 2))
def test_the_object_really_moves(pair):
    frames = render_clip(2 * pair, _rng(index=3), 8, 64,
                         noise_std=0).astype(float)
    changed = np.abs(frames[-1] - frames[0]).max(axis=-1) > 30
    assert changed.sum() > 40


def test_clip_shape_and_dtype():
    frames = render_clip(0, _rng(), num_frames=10, size=40)
    assert frames.shape == (10, 40, 40, 3)
    assert frames.dtype == np.uint8


def test_render_rejects_unknown_label_and_too_few_frames():
    with pytest.raises(ValueError, match='label must be in'):
        render_clip(len(CLASSES), _rng())
    with pytest.raises(ValueError, match='num_frames'):
        render_clip(0, _rng(), num_frames=1)


def test_class_names_are_whole_reversed_pairs():
    assert class_names(4) == ['moving_right', 'moving_left', 'moving_down',
                              'moving_up']
    with pytest.raises(ValueError, match='even'):
        class_names(3)


def _generate(path, **kwargs):
    options = dict(clips_per_class=5, num_classes=4, num_frames=8, size=32)
    options.update(kwargs)
    return generate(str(path), **options)


def test_generate_writes_lists_label_map_and_readable_videos(tmp_path):
    out = tmp_path / 'synth'
    settings = _generate(out, rawframes=True)
    assert json.loads((out / 'meta.json').read_text()) == settings
    assert (out / 'classes.txt').read_text().split() == class_names(4)
    train = (out / 'train_list_videos.txt').read_text().splitlines()
    val = (out / 'val_list_videos.txt').read_text().splitlines()
    assert len(train) == 4 * 4 and len(val) == 4 * 1
    assert sorted({int(line.split()[1]) for line in train}) == [0, 1, 2, 3]
    video, label = train[5].split()
    reader = decord.VideoReader(str(out / 'videos' / video))
    assert len(reader) == 8
    assert reader[0].shape == (32, 32, 3)
    frames_line = (out / 'train_list_rawframes.txt').read_text()
    folder, count, label = frames_line.splitlines()[5].split()
    assert int(count) == 8 and label == train[5].split()[1]
    assert osp.isfile(out / 'rawframes' / folder / 'img_00008.jpg')


def test_same_seed_gives_same_data_set(tmp_path):
    _generate(tmp_path / 'a', seed=3)
    _generate(tmp_path / 'b', seed=3)
    _generate(tmp_path / 'c', seed=4)
    name = 'videos/train/00006.mp4'
    same = [decord.VideoReader(str(tmp_path / d / name)).get_batch(
        range(8)).asnumpy() for d in 'abc']
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.array_equal(same[0], same[2])


def test_existing_data_set_is_reused_not_rewritten(tmp_path):
    out = tmp_path / 'synth'
    _generate(out)
    stamp = (out / 'meta.json').stat().st_mtime_ns
    _generate(out)
    assert (out / 'meta.json').stat().st_mtime_ns == stamp


def test_foreign_or_different_folder_is_refused_and_left_alone(tmp_path):
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not a synthetic data set'):
        _generate(foreign)
    assert (foreign / 'notes.txt').read_text() == 'keep me'
    out = tmp_path / 'synth'
    _generate(out)
    with pytest.raises(FileExistsError, match='other settings'):
        _generate(out, seed=1)


def test_cli_refusal_raises_for_the_one_error_line(tmp_path):
    # The command (python -m) reports it through run_main:
    # tests/tools/test_cli_errors.py.
    (tmp_path / 'x').mkdir()
    (tmp_path / 'x' / 'f').write_text('')
    with pytest.raises(FileExistsError, match='not a synthetic data set'):
        synthetic.main([str(tmp_path / 'x')])
