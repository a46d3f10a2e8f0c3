"""The conformance harness: loads cases, drives adapters and peers, judges outcomes."""
