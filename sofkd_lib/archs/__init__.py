"""The SOF-VSR network as the paper and its authors describe it: layers, warp, plain ``forward``."""
