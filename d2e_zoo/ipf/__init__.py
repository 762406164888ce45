"""Generalised iterative proportional fitting: config, trainer, checkpoints."""

from .checkpoint import (CheckpointError, CheckpointMismatchError, load_checkpoint, load_latest_checkpoint,
                         save_checkpoint)
from .config import ENERGY_LOSSES, METHODS, ConfigError, IPFConfig
from .trainer import IPFTrainer, NonFiniteLossError, check_method, infer_method

__all__ = [
    "CheckpointError", "CheckpointMismatchError", "ConfigError", "ENERGY_LOSSES", "IPFConfig", "IPFTrainer",
    "METHODS", "NonFiniteLossError", "check_method", "infer_method", "load_checkpoint", "load_latest_checkpoint",
    "save_checkpoint",
]
