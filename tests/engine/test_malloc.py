"""mmblvnet.engine.malloc: glibc tuning with its opt-outs."""
import platform

import pytest

from mmblvnet.engine import malloc

GLIBC = platform.system() == 'Linux' and platform.libc_ver()[0] == 'glibc'


@pytest.fixture
def clean_env(monkeypatch):
    for name in (malloc.ENV_VAR, 'MALLOC_MMAP_THRESHOLD_',
                 'MALLOC_TRIM_THRESHOLD_'):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.skipif(not GLIBC, reason='glibc only')
def test_applies_on_glibc(clean_env):
    assert malloc.tune_malloc() is True


def test_env_var_keeps_glibc_defaults(clean_env):
    clean_env.setenv(malloc.ENV_VAR, 'default')
    assert malloc.tune_malloc() is False


@pytest.mark.parametrize('name', ['MALLOC_MMAP_THRESHOLD_',
                                  'MALLOC_TRIM_THRESHOLD_'])
def test_user_malloc_settings_win(clean_env, name):
    clean_env.setenv(name, '131072')
    assert malloc.tune_malloc() is False
