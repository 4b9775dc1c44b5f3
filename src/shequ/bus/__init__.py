"""Message integration (6.2.2): topics, publish/subscribe, message trace, per-topic statistics.

Domain packages publish events after their transaction commits and subscribe to the topics of
lower layers, so data flows one way (a device message → rules → alarms → cases) without the
lower layer importing the higher one. The bus is in-process by default; a NATS JetStream
backend can implement the same `Bus` protocol when several processes share the work.
"""

from shequ.bus.core import (
    Bus,
    Envelope,
    Handler,
    InProcessBus,
    Subscription,
    TopicStats,
    TraceRecord,
    check_pattern,
    check_topic,
    default_bus,
    matches,
    set_default_bus,
)

__all__ = [
    "Bus",
    "Envelope",
    "Handler",
    "InProcessBus",
    "Subscription",
    "TopicStats",
    "TraceRecord",
    "check_pattern",
    "check_topic",
    "default_bus",
    "matches",
    "set_default_bus",
]
