"""Case files the project's own tests write on the fly, shared so each is written once."""

# Waits for bytes the peer never sends: keeps a driver busy long enough to interrupt it.
HANG = """\
id: t/hang
title: a case that waits for bytes the peer never sends
requirements: [streams.read-delivers]
features: [tcp]
steps:
  - connect: {}
  - peer.accept
  - read: {timeout: 60, expect: {value: "never"}}
"""
