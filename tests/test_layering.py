"""The package's layers import downwards only, the plugin never imports
the benchmarks or the study beside it, and every module imports.

Each module's imports (module level and inside functions) are read from
its syntax tree, so an import added anywhere is checked.
"""
import ast
import importlib
import sys
from pathlib import Path

import pytest
from helpers import REPO, run

PACKAGE = REPO / 'mmblvnet'
# Top-level folders of the repository beside the plugin: they may import
# it, it never imports them (nor the benchmarks the study).
BESIDE = ('benchmarks', 'study')

# Layer -> the layers it may import (besides itself, compat and zoo).
ALLOWED = {
    'compat': set(),
    'zoo': set(),
    # Imports its entries' modules by name (tests/test_process_changes.py
    # checks them against this set).
    'process_changes': {'models', 'converters', 'engine', 'datasets'},
    'models': set(),
    'converters': {'models'},
    'engine': {'models', 'converters', 'datasets'},
    'datasets': {'models', 'converters'},
    'utils': {'models', 'converters', 'engine', 'datasets'},
    'apis': {'models', 'converters', 'engine', 'datasets', 'utils'},
    'quickstart': {'models', 'converters', 'engine', 'datasets', 'utils',
                   'apis'},
}
ANYWHERE = {'compat', 'zoo'}


def modules(package: str = 'mmblvnet', root: bool = False):
    """Dotted names of every module of a top-level package of the
    repository (its ``__init__`` only with ``root``)."""
    folder = REPO / package
    return sorted(
        '.'.join((package, ) + path.relative_to(folder).with_suffix(
            '').parts).removesuffix('.__init__')
        for path in folder.rglob('*.py') if root or path.parent != folder
        or path.name != '__init__.py')


def _source(module: str) -> Path:
    path = REPO.joinpath(*module.split('.'))
    package = path / '__init__.py'
    return package if package.exists() else path.with_suffix('.py')


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == '__name__'
            and [getattr(c, 'value', None)
                 for c in node.test.comparators] == ['__main__'])


def imported_names(path: Path, module: str):
    """``(line, dotted name)`` of each import in ``path``, the source of
    the dotted ``module`` (relative imports resolved), but those of its
    command block."""
    package = module if path.name == '__init__.py' else module.rsplit(
        '.', 1)[0]
    tree = ast.parse(path.read_text())
    # A module's command block (``if __name__ == '__main__':``) runs only
    # as ``python -m``, never when the module is imported: it may reach up
    # (to utils.cli's one error path).
    command_block = {id(node) for guard in tree.body if _is_main_guard(guard)
                     for node in ast.walk(guard)}
    for node in ast.walk(tree):
        if id(node) in command_block:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) -
                                             node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            names = [base] if node.module else [
                f'{base}.{alias.name}' for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            yield node.lineno, name


def imported_layers(path: Path, module: str):
    """``(line, layer)`` of each import of an mmblvnet layer in ``path``,
    the source of the dotted ``module``."""
    for line, name in imported_names(path, module):
        parts = name.split('.')
        if parts[0] == 'mmblvnet' and len(parts) > 1:
            yield line, parts[1]


def test_every_module_is_listed_in_a_layer():
    layers = {module.split('.')[1] for module in modules()}
    assert layers <= set(ALLOWED), (
        f'add the layer(s) {sorted(layers - set(ALLOWED))} to ALLOWED')


@pytest.mark.parametrize('module', modules())
def test_module_imports_only_lower_layers(module):
    layer = module.split('.')[1]
    allowed = ALLOWED[layer] | ANYWHERE | {layer}
    path = _source(module)
    wrong = [
        f'{path.relative_to(REPO)}:{line} imports mmblvnet.{target}'
        for line, target in imported_layers(path, module)
        if target not in allowed
    ]
    assert not wrong, (
        f'the {layer} layer may import only {sorted(allowed)}: '
        + '; '.join(wrong))


@pytest.mark.parametrize('package, forbidden', [
    ('mmblvnet', set(BESIDE)), ('benchmarks', {'study'})])
def test_the_plugin_never_imports_what_lies_beside_it(package, forbidden):
    wrong = [
        f'{_source(module).relative_to(REPO)}:{line} imports {name}'
        for module in modules(package, root=True)
        for line, name in imported_names(_source(module), module)
        if name.split('.')[0] in forbidden
    ]
    assert not wrong, '; '.join(wrong)


def test_every_module_imports():
    for module in [*modules(), *(name for package in BESIDE
                                 for name in modules(package))]:
        if not module.endswith('__main__'):
            importlib.import_module(module)


def test_importing_the_plugin_and_building_a_model_loads_no_measurement():
    """In a fresh interpreter: ``import mmblvnet`` and building the demo
    and the paper configs' models load no benchmark, profiling or study
    module."""
    script = (
        'import sys\n'
        'import mmblvnet\n'
        'from mmaction.registry import MODELS\n'
        'from mmengine.config import Config\n'
        'from mmengine.registry import init_default_scope\n'
        'from mmblvnet.quickstart import packaged_config\n'
        "init_default_scope('mmaction')\n"
        "for config in (packaged_config(), 'configs/blvnet_tam_r50_8x.py'):\n"
        '    MODELS.build(Config.fromfile(config).model)\n'
        "print(' '.join(sorted(sys.modules)))\n")
    result = run([sys.executable, '-c', script])
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = result.stdout.split()
    assert 'mmblvnet.models.backbones.blresnet' in loaded
    measuring = [
        name for name in loaded
        if name.split('.')[0] in BESIDE or name.startswith('mmblvnet.') and
        any(word in name for word in ('benchmark', 'profil', 'study',
                                      'tam_timing', 'video_styles'))]
    assert not measuring, measuring


def test_layering_check_sees_a_model_importing_a_converter(tmp_path):
    # blresnet.py's former lazy import of the converters, inside a method.
    path = tmp_path / 'blresnet.py'
    path.write_text('import torch\nfrom ..common import tam\n\n\n'
                    'def init_weights():\n'
                    '    from ...converters.biglittlenet import load\n')
    found = list(
        imported_layers(path, 'mmblvnet.models.backbones.blresnet'))
    assert found == [(2, 'models'), (6, 'converters')]


def test_layering_check_lets_a_command_block_reach_the_error_path(
        tmp_path):
    path = tmp_path / 'synthetic.py'
    path.write_text('from .pipeline import run\n\n'
                    "if __name__ == '__main__':\n"
                    '    from mmblvnet.utils.cli import run_main\n')
    assert list(imported_layers(path, 'mmblvnet.datasets.synthetic')) == [
        (1, 'datasets')]
