"""The training engine: configuration, the loop, prefetching and runtime settings."""
