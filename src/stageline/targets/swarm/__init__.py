"""The ``swarm`` target: environments as Docker Swarm services (``target.py``), from an
OCI image built once per artifact (``image.py``), behind stageline's own front
(``front.py``); pure decisions in ``plan.py``, the engine reached through its CLI
(``engine.py``), the image's entry point in ``launcher.py`` (standard library only: it
runs inside the image). See ``docs/swarm.md``.
"""
