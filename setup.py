"""Package metadata lives in setup.cfg; this file adds one build step.

``mmblvnet_drn_stub.pth`` is written into the root of the wheel, i.e. into
site-packages, for normal and editable (``pip install -e .``) installs, so
that every Python process of the environment can import
``mmaction.models`` on the mmaction2 1.2.0 wheel (see
``mmblvnet_drn_stub.py``), MMAction2's own tools included.
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = 'mmblvnet_drn_stub.pth'
PTH_LINE = 'import mmblvnet_drn_stub; mmblvnet_drn_stub.install()\n'


class BuildPyWithPth(build_py):
    """``build_py`` that also writes the start-up ``.pth`` file."""

    def run(self):
        super().run()
        root = self.build_lib
        if getattr(self, 'editable_mode', False):
            # An editable wheel is assembled from the install folder, not
            # from build_lib (setuptools' editable_wheel command).
            root = self.get_finalized_command('install').install_lib
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, PTH_NAME), 'w') as f:
            f.write(PTH_LINE)


setup(cmdclass={'build_py': BuildPyWithPth})
