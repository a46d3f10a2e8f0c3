"""The case model and its loading: what a case, a requirement and a result are.

The bottom layer: plain values, parsed once at the boundary (YAML and the requirement
catalogue become typed objects with file:line errors). It imports nothing else of the
package but `paths`, so everything above can rely on it.
"""
