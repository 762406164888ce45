"""The model zoo: a registry of named entries, loading (path -> Hub -> bundled), bundled snapshots."""

from .hub import HubTimeoutError
from .loading import LoadPlan, ModelInfo, ZooLoadError, build, load, load_component, plan_load, resolve
from .registry import UnknownModelError, ZooEntry, get_entry, list_models

__all__ = ["HubTimeoutError", "LoadPlan", "ModelInfo", "UnknownModelError", "ZooEntry", "ZooLoadError", "build",
           "get_entry", "list_models", "load", "load_component", "plan_load", "resolve"]
