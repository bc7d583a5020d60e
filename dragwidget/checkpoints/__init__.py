"""Generator checkpoints: read the files people bring without running their code; our own format.

load_generator(path=None, device=None)   # None: the embedded default model
save_generator(generator, path, dtype=None)
"""

from dragwidget.checkpoints.errors import CheckpointError, UnsafeCheckpointError
from dragwidget.checkpoints.load import DEFAULT_MODEL_PATH, load_generator, read_checkpoint
from dragwidget.checkpoints.native import save_generator

__all__ = [
    "DEFAULT_MODEL_PATH",
    "CheckpointError",
    "UnsafeCheckpointError",
    "load_generator",
    "read_checkpoint",
    "save_generator",
]
