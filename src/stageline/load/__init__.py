"""Load at production's shape: the ``load`` gate's schedule, generator, measures and verdict.

``schedule`` (pure) turns a traffic profile's mix and a rate into the exact list of
requests to send and when; ``generator`` sends them open-loop (asyncio + h11, latencies
from the intended send time); ``measure`` samples a service's CPU and memory and the
host's CPU from ``/proc``; ``judge`` (pure) compares the baseline with the candidate and
sizes the run honestly; ``report`` renders text, JUnit and the charts' series. The gate
itself is ``stageline.gates.load``.
"""
