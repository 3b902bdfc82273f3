"""Let ``import mmaction.models`` work on the mmaction2 1.2.0 wheel.

The wheel's ``mmaction/models/localizers/__init__.py`` imports ``.drn.drn``
but the ``drn`` folder is not in the wheel (open-mmlab/mmaction2#2714), so
every import of ``mmaction.models`` fails, in MMAction2's own tools too
(``confusion_matrix`` imports it before it reads a config).

:func:`install` appends a finder to ``sys.meta_path`` that provides a stub
for exactly ``mmaction.models.localizers.drn`` and its ``drn`` module.
Being last, it is only asked when no other finder found a real ``drn``
package, so an installation that has one imports it unchanged. The stub's
``DRN`` (registered under that name) raises a clear ImportError when built.

The installed package runs :func:`install` at interpreter start through
``mmblvnet_drn_stub.pth`` in site-packages (written by ``setup.py``), and
``import mmblvnet`` runs it too. This module imports nothing heavy: it is
loaded by every Python process of the environment.
"""
import importlib.abc
import importlib.machinery
import sys

DRN_PACKAGE = 'mmaction.models.localizers.drn'
DRN_MODULE = DRN_PACKAGE + '.drn'


class MissingDRN:
    """Stand-in for MMAction2's DRN localizer, which 1.2.0 wheels lack."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            'The DRN localizer is missing from the installed mmaction2 1.2.0 '
            'wheel (open-mmlab/mmaction2#2714); install mmaction2 from '
            'source to use DRN.')


class _StubLoader(importlib.abc.Loader):
    """Fills the stub package (empty) and module (``DRN``)."""

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        if module.__name__ != DRN_MODULE:
            return
        from mmaction.registry import MODELS

        module.DRN = MissingDRN
        MODELS.register_module(name='DRN', module=MissingDRN, force=True)


class DRNStubFinder(importlib.abc.MetaPathFinder):
    """Finds the stub for the two DRN names, and nothing else."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in (DRN_PACKAGE, DRN_MODULE):
            return None
        return importlib.machinery.ModuleSpec(
            fullname, _StubLoader(), is_package=fullname == DRN_PACKAGE)


def install() -> None:
    """Append the finder to ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, DRNStubFinder)
               for finder in sys.meta_path):
        sys.meta_path.append(DRNStubFinder())
