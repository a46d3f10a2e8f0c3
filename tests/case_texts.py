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

# A ping/pong exchange; `{name}` is the case's name (the misbehaving driver breaks the
# protocol only in a case whose id ends with "/misbehave").
ECHO = """\
id: t/{name}
title: an echo case of the project's own tests
requirements: [connect.object-form]
features: [tcp]
steps:
  - connect: {{}}
  - peer.accept
  - await: s.opened
  - write: "ping"
  - peer.expect: "ping"
  - peer.send: "pong"
  - read: {{expect: {{value: "pong"}}}}
  - close
  - peer.expect_eof
"""
