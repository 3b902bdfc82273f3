"""Every process-wide change of ``import mmblvnet`` is listed, applied,
in docs/robustness.md, and still needed: each
``test_<name>_still_needed`` looks at the stack without mmblvnet (a fresh
interpreter) and fails when upstream fixes or changes what the entry
works around."""
import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO
from mmengine.fileio.backends.registry_utils import backends
from test_layering import ALLOWED

from mmblvnet import process_changes

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

from mmengine.fileio.backends.registry_utils import backends
state['atomic_file_backend'] = sorted(backends)
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


def test_atomic_file_backend_still_needed(upstream):
    assert 'local' in upstream['atomic_file_backend']
    assert 'atomic_local' not in upstream['atomic_file_backend']


def test_every_change_has_a_still_needed_test():
    names = [change.name for change in process_changes.CHANGES]
    assert len(set(names)) == len(names)
    missing = [name for name in names
               if f'test_{name}_still_needed' not in globals()]
    assert not missing


def test_every_change_is_applied_after_import():
    assert 'atomic_local' in backends
    assert np.Inf == np.inf
    process_changes.apply_all()  # idempotent
    assert np.Inf == np.inf


def test_the_list_holds_only_stack_fixes_and_new_names():
    assert [change.name for change in process_changes.CHANGES] == [
        'drn_stub', 'numpy_aliases', 'checkpoint_safe_globals',
        'dist_without_cuda', 'atomic_file_backend'
    ]


def test_entries_live_in_the_layers_it_may_import():
    for change in process_changes.CHANGES:
        module, function = change.apply.split(':')
        layer = module.split('.')[1]
        assert layer in ALLOWED['process_changes'] | {'compat'}, change
        assert callable(getattr(importlib.import_module(module), function))


def test_robustness_doc_lists_every_change():
    doc = (REPO / 'docs' / 'robustness.md').read_text()
    for change in process_changes.CHANGES:
        assert f'| `{change.name}` |' in doc, change.name
