"""Engine implementations of :class:`flockwatch.store.engine.Engine`: the only modules (with
:mod:`flockwatch.store.timeouts`) that import an engine's client library."""
