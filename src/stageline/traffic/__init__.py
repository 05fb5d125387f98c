"""The traffic profile an environment's proxy records: routes, rates, statuses, latencies
and sizes, never a request's values (``profile`` holds the types, pure)."""

from stageline.traffic.profile import Minute, RouteStats, TrafficProfile, normalize

__all__ = ["Minute", "RouteStats", "TrafficProfile", "normalize"]
