"""Every process-wide change of ``import mmblvnet`` is listed, applied, in
the README, and still needed: each ``test_<name>_still_needed`` looks at
the stack without mmblvnet (a fresh interpreter) and fails when upstream
fixes or changes what the entry works around."""
import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO
from mmaction.registry import DATASETS
from mmengine.fileio.backends.registry_utils import backends
from mmengine.runner import CheckpointLoader
from test_layering import ALLOWED

from mmblvnet import process_changes
from mmblvnet.datasets import CheckedRawframeDataset, CheckedVideoDataset
from mmblvnet.engine.checkpoint_integrity import load_from_checked_local

# Run in a fresh interpreter that never imports mmblvnet: what the stack
# does on its own. Prints one JSON object, a value per entry.
PROBE = r'''
import inspect, json, pathlib, pickle, tempfile

state = {}
import mmaction
localizers = pathlib.Path(mmaction.__file__).parent / 'models' / 'localizers'
state['drn_stub'] = dict(
    ships_drn=(localizers / 'drn').is_dir(),
    imports_drn='.drn' in (localizers / '__init__.py').read_text())

import numpy as np
import torch
import mmengine
import mmaction.models
from mmaction.datasets import RawframeDataset, VideoDataset
from mmaction.registry import DATASETS, MODELS


def sources(module):
    root = pathlib.Path(module.__file__).parent
    return {str(path.relative_to(root.parent)): path.read_text(errors='ignore')
            for path in root.rglob('*.py')}


mmaction_sources = '\n'.join(sources(mmaction).values())
state['numpy_aliases'] = sorted(
    name for name in ('Inf', 'NAN', 'trapz', 'in1d')
    if name not in np.__dict__ and f'np.{name}' in mmaction_sources)

from mmengine.logging import HistoryBuffer
buffer = HistoryBuffer()
buffer.update(1.0)
with tempfile.TemporaryDirectory() as folder:
    path = folder + '/runner.pth'
    torch.save(dict(message_hub=dict(loss=buffer), meta=dict(
        seed=np.int64(0), scores=np.zeros(2))), path)
    try:
        torch.load(path)
        state['checkpoint_safe_globals'] = 'loads'
    except pickle.UnpicklingError:
        state['checkpoint_safe_globals'] = 'refused'

from mmengine.dist import utils as dist_utils
launcher = inspect.getsource(dist_utils._init_dist_pytorch)
state['dist_without_cuda'] = 'torch.cuda.set_device' in launcher

state['checked_data_sets'] = dict(
    stock=[DATASETS.get(name) is cls for name, cls in (
        ('VideoDataset', VideoDataset), ('RawframeDataset', RawframeDataset))],
    signatures=[str(inspect.signature(getattr(cls, method)))
                for cls in (VideoDataset, RawframeDataset)
                for method in ('load_data_list', 'prepare_data')])

from mmengine.runner import CheckpointLoader
state['checked_checkpoint_loader'] = (
    CheckpointLoader._get_checkpoint_loader('/any/local.pth').__name__)

from mmengine.fileio.backends.registry_utils import backends
state['atomic_file_backend'] = sorted(backends)

from mmengine.registry import init_default_scope
init_default_scope('mmaction')
recognizer = MODELS.build(dict(
    type='Recognizer2D', backbone=dict(type='ResNet', depth=18),
    cls_head=dict(type='TSNHead', num_classes=2, in_channels=2048)))
state['head_channel_check'] = type(recognizer).__name__
print(json.dumps(state))
'''


@pytest.fixture(scope='module')
def upstream():
    """What the stack does without mmblvnet, per entry."""
    done = subprocess.run([sys.executable, '-c', PROBE],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_drn_stub_still_needed(upstream):
    assert upstream['drn_stub'] == dict(ships_drn=False, imports_drn=True), (
        'mmaction2 ships its DRN localizer or no longer imports it: drop '
        'drn_stub')


def test_numpy_aliases_still_needed(upstream):
    assert upstream['numpy_aliases'] == ['Inf', 'NAN', 'in1d', 'trapz'], (
        'numpy or MMAction2 changed: alias only the names still missing '
        'and used')


def test_checkpoint_safe_globals_still_needed(upstream):
    assert upstream['checkpoint_safe_globals'] == 'refused'


def test_dist_without_cuda_still_needed(upstream):
    assert upstream['dist_without_cuda'], (
        "MMEngine's pytorch launcher no longer calls torch.cuda.set_device")


def test_checked_data_sets_still_needed(upstream):
    # The stock classes are what the checked ones subclass, and the
    # methods they override still have the signatures written for them.
    assert upstream['checked_data_sets'] == dict(
        stock=[True, True], signatures=['(self) -> List[dict]',
                                        '(self, idx) -> Any'] * 2)


def test_checked_checkpoint_loader_still_needed(upstream):
    assert upstream['checked_checkpoint_loader'] == 'load_from_local'


def test_atomic_file_backend_still_needed(upstream):
    assert 'local' in upstream['atomic_file_backend']
    assert 'atomic_local' not in upstream['atomic_file_backend']


def test_head_channel_check_still_needed(upstream):
    # A head that cannot read the backbone's maps still builds upstream.
    assert upstream['head_channel_check'] == 'Recognizer2D'


def test_every_change_has_a_still_needed_test():
    names = [change.name for change in process_changes.CHANGES]
    assert len(set(names)) == len(names)
    missing = [name for name in names
               if f'test_{name}_still_needed' not in globals()]
    assert not missing


def test_every_change_is_applied_after_import():
    assert DATASETS.get('VideoDataset') is CheckedVideoDataset
    assert DATASETS.get('RawframeDataset') is CheckedRawframeDataset
    loader = CheckpointLoader._get_checkpoint_loader('/any/local.pth')
    assert loader is load_from_checked_local
    assert 'atomic_local' in backends
    assert np.Inf == np.inf
    process_changes.apply_all()  # idempotent
    assert DATASETS.get('VideoDataset') is CheckedVideoDataset


def test_entries_live_in_the_layers_it_may_import():
    for change in process_changes.CHANGES:
        module, function = change.apply.split(':')
        layer = module.split('.')[1]
        assert layer in ALLOWED['process_changes'] | {'compat'}, change
        assert callable(getattr(importlib.import_module(module), function))


def test_readme_lists_every_change():
    readme = (REPO / 'README.md').read_text()
    for change in process_changes.CHANGES:
        assert f'| `{change.name}` |' in readme, change.name
