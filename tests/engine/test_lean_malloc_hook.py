"""LeanMallocHook and tune_malloc: glibc tuning with its opt-outs; a run's
configs opt into it; importing mmblvnet leaves the allocator alone."""
import logging
import os
import platform
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch
from helpers import REPO
from mmaction.registry import HOOKS

from mmblvnet.engine import LeanMallocHook, lean_malloc_hook

GLIBC = platform.system() == 'Linux' and platform.libc_ver()[0] == 'glibc'


@pytest.fixture
def clean_env(monkeypatch):
    for name in (lean_malloc_hook.ENV_VAR, 'MALLOC_MMAP_THRESHOLD_',
                 'MALLOC_TRIM_THRESHOLD_'):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.skipif(not GLIBC, reason='glibc only')
def test_applies_on_glibc(clean_env):
    assert lean_malloc_hook.tune_malloc() is True


def test_env_var_keeps_glibc_defaults(clean_env):
    clean_env.setenv(lean_malloc_hook.ENV_VAR, 'default')
    assert lean_malloc_hook.tune_malloc() is False


@pytest.mark.parametrize('name', ['MALLOC_MMAP_THRESHOLD_',
                                  'MALLOC_TRIM_THRESHOLD_'])
def test_user_malloc_settings_win(clean_env, name):
    clean_env.setenv(name, '131072')
    assert lean_malloc_hook.tune_malloc() is False

# Counts the mallopt lookups (tune_malloc's only way to change malloc)
# while importing mmblvnet, then after calling tune_malloc.
_MALLOPT_LOOKUPS = textwrap.dedent('''
    import ctypes
    lookups = []

    class SpyCDLL(ctypes.CDLL):
        def __getattr__(self, name):
            if name == 'mallopt':
                lookups.append(name)
            return super().__getattr__(name)

    ctypes.CDLL = SpyCDLL
    import mmblvnet
    from mmblvnet.engine.lean_malloc_hook import tune_malloc
    print(len(lookups), tune_malloc(), len(lookups))
''')


@pytest.mark.skipif(not GLIBC, reason='glibc only')
def test_import_leaves_malloc_alone():
    env = {name: value for name, value in os.environ.items()
           if name not in ('MMBLVNET_MALLOC', 'MALLOC_MMAP_THRESHOLD_',
                           'MALLOC_TRIM_THRESHOLD_')}
    result = subprocess.run([sys.executable, '-c', _MALLOPT_LOOKUPS],
                            capture_output=True, text=True, cwd=REPO,
                            env=env, check=True)
    assert result.stdout.split() == ['0', 'True', '1']


def test_hook_tunes_before_the_run_and_logs(monkeypatch, caplog):
    calls = []
    monkeypatch.setattr(lean_malloc_hook, 'tune_malloc',
                        lambda: calls.append(1) or True)
    logger = logging.getLogger('lean-malloc-test')
    with caplog.at_level(logging.INFO, logger='lean-malloc-test'):
        LeanMallocHook().before_run(SimpleNamespace(logger=logger))
    assert calls == [1]
    assert 'MMBLVNET_MALLOC=default' in caplog.text


def test_hook_is_silent_where_tuning_does_not_apply(monkeypatch, caplog):
    monkeypatch.setattr(lean_malloc_hook, 'tune_malloc', lambda: False)
    logger = logging.getLogger('lean-malloc-test')
    with caplog.at_level(logging.INFO, logger='lean-malloc-test'):
        LeanMallocHook().before_run(SimpleNamespace(logger=logger))
    assert caplog.text == ''


def test_hook_is_off_where_cuda_is_available(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(lean_malloc_hook, 'tune_malloc',
                        lambda: pytest.fail('tuned malloc with CUDA'))
    logger = logging.getLogger('lean-malloc-test')
    with caplog.at_level(logging.INFO, logger='lean-malloc-test'):
        LeanMallocHook().before_run(SimpleNamespace(logger=logger))
    assert 'off (CUDA is available)' in caplog.text


def test_no_shipped_config_asks_for_the_hook():
    assert HOOKS.get('LeanMallocHook') is LeanMallocHook
    for path in (REPO / 'configs').rglob('*.py'):
        assert 'LeanMallocHook' not in path.read_text(), path
