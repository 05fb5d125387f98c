"""Pure decisions: functions from facts to a verdict, with no I/O.

Each module takes frozen facts (config models, records) and returns a frozen decision
that names its reason; the use cases gather the facts and act on the decision.

- :mod:`~stageline.decisions.access`: who may deploy, promote into, roll back, override.
- :mod:`~stageline.decisions.policy`: whether an artifact may enter an environment.
- :mod:`~stageline.decisions.signoff`: whether the digest in an environment may leave it.
- :mod:`~stageline.decisions.pins`: the gate configuration evidence was produced under.
- :mod:`~stageline.decisions.schema_check`: whether a release may run on a schema.

Nothing here imports the store, a target, the agent or the network (``tests/test_imports.py``).
"""
