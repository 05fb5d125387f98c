"""Migration rehearsal: apply a release's schema changes to a scratch copy of
production-like data, measure what they lock, rewrite, scan and stall, roll them back,
and prove the schema and data come back (see ``docs/rehearsal.md``).

``run.rehearse`` does one rehearsal and returns the facts; ``judge.judge`` (pure) turns
them into findings and a verdict; ``report`` renders text, JSON and JUnit. The gate kind
``migrations`` (``stageline.gates.migrations``) wires it to an environment.
"""
