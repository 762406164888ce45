"""The model zoo: a registry of named entries, loading (path -> Hub -> bundled), bundled snapshots."""

from .loading import ModelInfo, ZooLoadError, load, load_component, resolve
from .registry import UnknownModelError, ZooEntry, get_entry, list_models

__all__ = ["ModelInfo", "UnknownModelError", "ZooEntry", "ZooLoadError", "get_entry", "list_models", "load",
           "load_component", "resolve"]
