from .backbones import *  # noqa: F401,F403
from .channel_check import register as _register_channel_check
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403

_register_channel_check()
