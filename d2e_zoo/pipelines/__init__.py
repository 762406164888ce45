"""Inference pipelines (diffusers ``DiffusionPipeline`` subclasses) and their scheduler."""

from .bridge_pipeline import BridgePipelineOutput, D2EBridgePipeline
from .scheduler import BridgeScheduler, BridgeSchedulerOutput

__all__ = ["BridgePipelineOutput", "BridgeScheduler", "BridgeSchedulerOutput", "D2EBridgePipeline"]
