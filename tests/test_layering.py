"""The package's layers import downwards only, and every module imports.

Each module's imports (module level and inside functions) are read from
its syntax tree, so an import added anywhere is checked.
"""
import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'mmblvnet'

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
    'study': {'models', 'converters', 'engine', 'datasets', 'utils', 'apis',
              'quickstart'},
}
ANYWHERE = {'compat', 'zoo'}


def modules():
    """Dotted names of every module of the package but the root."""
    return sorted(
        '.'.join(('mmblvnet', ) + path.relative_to(PACKAGE).with_suffix(
            '').parts).removesuffix('.__init__')
        for path in PACKAGE.rglob('*.py') if path.parent != PACKAGE
        or path.name != '__init__.py')


def _source(module: str) -> Path:
    path = PACKAGE.joinpath(*module.split('.')[1:])
    package = path / '__init__.py'
    return package if package.exists() else path.with_suffix('.py')


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == '__name__'
            and [getattr(c, 'value', None)
                 for c in node.test.comparators] == ['__main__'])


def imported_layers(path: Path, module: str):
    """``(line, layer)`` of each import of an mmblvnet layer in ``path``,
    the source of the dotted ``module``."""
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
            parts = name.split('.')
            if parts[0] == 'mmblvnet' and len(parts) > 1:
                yield node.lineno, parts[1]


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
        f'{path.relative_to(PACKAGE.parent)}:{line} imports mmblvnet.{target}'
        for line, target in imported_layers(path, module)
        if target not in allowed
    ]
    assert not wrong, (
        f'the {layer} layer may import only {sorted(allowed)}: '
        + '; '.join(wrong))


def test_every_module_imports():
    for module in modules():
        if not module.endswith('__main__'):
            importlib.import_module(module)


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
