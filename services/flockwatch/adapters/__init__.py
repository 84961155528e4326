"""The edges: everything that talks to a server or the network (Kafka, HTTP fetchers, alert sinks, the local
services). The core and the domain packages import none of this (checked by ``make lint``); the store engines
live under :mod:`flockwatch.store`."""
