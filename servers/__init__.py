"""Fake peers on loopback that the case timeline drives."""
