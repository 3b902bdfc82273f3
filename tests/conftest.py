import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import mmblvnet  # noqa: F401  (registers the plugin, applies its changes)

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def mmaction_scope():
    init_default_scope('mmaction')


@pytest.fixture(autouse=True)
def no_closed_log_streams():
    """Drop MMLogger handlers whose stream an earlier test closed.

    MMLogger instances live for the whole session: one created while
    pytest captured a test's stderr (``capsys``) keeps writing to that
    capture after the test, and every later log call then prints
    '--- Logging error ---' into the stderr of whatever test runs.
    """
    for logger in MMLogger._instance_dict.values():
        for handler in list(logger.handlers):
            if getattr(getattr(handler, 'stream', None), 'closed', False):
                logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """A tiny synthetic data set: 6 classes, 3 train + 1 val clips each.

    Videos and rawframes of 8 frames at 32x32, shared by the whole session
    (read-only for tests).
    """
    from mmblvnet.datasets.synthetic import generate
    root = tmp_path_factory.mktemp('data') / 'synthetic'
    generate(str(root), clips_per_class=4, num_classes=6, num_frames=8,
             size=32, val_fraction=0.25, rawframes=True)
    return root


@pytest.fixture(scope='session')
def styled_root(tmp_path_factory):
    """Small videos in the public data sets' styles, 2 of each: Kinetics
    (H.264 mp4, 86x64, 75 frames, one keyframe), Something-Something v2
    (VP9 webm, 214x120, 24 frames) and v1 (JPEG folders, 88x50, 24
    frames); ``root/<style>/list_*.txt`` (read-only for tests)."""
    from benchmarks.video_styles import generate_styled
    root = tmp_path_factory.mktemp('styled')
    for style, scale in (('kinetics', 0.25), ('sthv2', 0.5),
                         ('sthv1', 0.5)):
        generate_styled(str(root / style), style, 2, scale=scale)
    return root
