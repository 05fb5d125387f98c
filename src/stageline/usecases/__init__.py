"""The use cases: one verb per function, each taking a :class:`~.pipeline.Session`.

The CLI and the dashboard only parse, call one of these and render what it returns
(alembic's ``command`` module is the model). Where each verb lives:

- :mod:`~stageline.usecases.pipeline`: ``Session``; ``build``, ``find_artifact``,
  ``show_artifact``, ``verify_artifact``, ``list_artifacts``.
- :mod:`~stageline.usecases.deploy`: ``plan``, ``deploy``, ``promote``, ``rollback``,
  ``ship``, ``reconcile``.
- :mod:`~stageline.usecases.verification`: ``verify``, ``give_verdict`` (approve,
  reject), ``withdraw_rejection``, ``signoff_for``.
- :mod:`~stageline.usecases.status`: ``status``, ``environment_config``, ``down``.
- :mod:`~stageline.usecases.secrets`: ``set_secret``, ``list_secrets``,
  ``remove_secret``, ``rotate_key``.
- :mod:`~stageline.usecases.tokens`: ``create_token``, ``revoke_token``.
- :mod:`~stageline.usecases.audit`: ``events``, ``verify`` (the hash chain).
- :mod:`~stageline.usecases.demo`: ``prepare_demo_repo`` (the demo's repository).

Their steps, shared by several verbs: :mod:`~.entry` (the one decision for every way into
an environment, enforced), :mod:`~.permissions` (access, enforced and audited),
:mod:`~.after_deploy` (checks after a switch), :mod:`~.schema_state` (schema-aware
rollback). Nothing is imported here, so importing one verb does not import them all.
"""
