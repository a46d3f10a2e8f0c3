"""The Node.js adapter: a driver process (stdio.mjs over core.mjs) started by launch.py."""
