"""Checkpoints: the one loader, the authors' released weights, recorded pretrained weights."""
