"""The edges: everything that talks to a server or the network (Kafka, HTTP fetchers, alert sinks, the local
services). The core and the domain packages import none of this (checked by ``make lint``); the store engines
live under :mod:`flockwatch.store`.

Every module here that talks to Kafka is imported through this package, so the Kafka client's logging is
adjusted once, here (:mod:`flockwatch.adapters.kafka_closed_socket`)."""

from flockwatch.adapters import kafka_closed_socket

kafka_closed_socket.install()
