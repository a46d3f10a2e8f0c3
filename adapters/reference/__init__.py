"""The reference implementation of connect() in Python (asyncio), with JavaScript semantics."""
