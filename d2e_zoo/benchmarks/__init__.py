"""Benchmarks: the toy suite (``python -m d2e_zoo.benchmarks.toy2d``) and its runner."""
