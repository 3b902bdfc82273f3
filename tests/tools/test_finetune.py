"""docs/finetune.md, run as written on generated videos.

The test copies the fine-tune config as the walk-through says, sets its
top lines to a tiny run (4 classes, 32x32 frames, 1 epoch) and runs every
``cp`` and ``python tools/...`` command of the walk-through with bash, in
a folder laid out as the walk-through's (``data/my_videos``,
``checkpoints/``). The conversion of an IBM file is replaced by a
checkpoint of random weights of the same model (174 classes).
"""
import re
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, environment
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from mmblvnet.datasets.synthetic import generate

DOC = REPO / 'docs' / 'finetune.md'
TINY = dict(num_classes=4, max_epochs=1, batch_size=2, short_side=36,
            crop_size=32)


def doc_commands():
    """The doc's ``cp`` and ``python tools/`` command lines, in order."""
    blocks = re.findall(r'```bash\n(.*?)```', DOC.read_text(), flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return [line for line in lines
            if line.startswith(('cp ', 'python tools/'))
            and 'convert_ibm_checkpoint' not in line]


def set_top_lines(config: Path, **values) -> None:
    text = config.read_text()
    for name, value in values.items():
        text, count = re.subn(rf'^{name} = .*$', f'{name} = {value!r}', text,
                              flags=re.M)
        assert count == 1, f'{name} is not a top line of {config}'
    config.write_text(text)


@pytest.fixture
def workspace(tmp_path):
    """The walk-through's folder: tools, configs, data and a checkpoint."""
    (tmp_path / 'tools').symlink_to(REPO / 'tools')
    (tmp_path / 'configs' / 'finetune').mkdir(parents=True)
    (tmp_path / 'configs' / '_base_').symlink_to(REPO / 'configs' / '_base_')
    for config in (REPO / 'configs' / 'finetune').glob('*.py'):
        (tmp_path / 'configs' / 'finetune' / config.name).symlink_to(config)
    generate(str(tmp_path / 'data' / 'my_videos'), clips_per_class=2,
             num_classes=TINY['num_classes'], num_frames=16, size=32,
             val_fraction=0.5)
    converted = Config.fromfile(
        str(REPO / 'configs/zoo/blvnet-tam_r50_8xb8-1x1x16-50e_sthv2-rgb.py'))
    model = MODELS.build(converted.model)
    (tmp_path / 'checkpoints').mkdir()
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}},
                    str(tmp_path / 'checkpoints' /
                        'blvnet_tam_r50_8x2_sthv2.pth'))
    return tmp_path


@pytest.mark.slow  # three tool runs of a 16-frame model: over a minute
def test_finetune_walkthrough_runs_as_written(workspace):
    commands = doc_commands()
    assert [command.split()[1] for command in commands] == [
        'configs/finetune/blvnet-tam_r50_sthv2-pre_1xb8-1x1x16-10e_custom-'
        'rgb.py', 'tools/train.py', 'tools/test.py', 'tools/demo.py']
    video = workspace / 'data/my_videos/videos/val/00000.mp4'
    for command in commands:
        result = subprocess.run(
            ['bash', '-c', command], cwd=workspace, capture_output=True,
            text=True, timeout=600, env=environment(VIDEO=str(video)))
        assert result.returncode == 0, (command, result.stderr[-3000:])
        if command.startswith('cp '):
            set_top_lines(workspace / 'configs/finetune/my_videos.py',
                          **TINY)
    work = workspace / 'work_dirs' / 'my_videos'
    log = next(work.glob('*/*.log')).read_text()
    # The backbone came from the checkpoint, the 4-class head is new.
    assert 'Load checkpoint from' in log
    assert 'acc/top1' in log
    assert len(list(work.glob('best_acc_top1_epoch_1.pth'))) == 1
    lines = result.stdout.splitlines()
    names = (workspace / 'data/my_videos/classes.txt').read_text().split()
    assert len(lines) == 4 and all(line.split(':')[0] in names
                                   for line in lines)
    assert (workspace / 'labelled.mp4').stat().st_size > 0
