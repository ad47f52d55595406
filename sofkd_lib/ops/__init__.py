"""Opt-in fast executions of the network (CPU fused kernels); same numbers as the plain ``forward``."""
