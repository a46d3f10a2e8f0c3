"""Running one case against one implementation: the Adapter protocol, the runner that walks
a case's timeline, the judge, the driver-protocol client for out-of-process implementations,
the egress guard, and the expectations that say which divergences are known."""
