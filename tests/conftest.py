import pytest
import torch
from mmengine.registry import init_default_scope

import mmblvnet  # noqa: F401  (registers the plugin, applies compat)

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def mmaction_scope():
    init_default_scope('mmaction')


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
