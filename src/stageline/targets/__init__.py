"""Targets: where environments run, one kind per entry point of ``stageline.targets``.

``Session.target(env, service)`` picks one (``registry.resolve``); ``base.py`` holds the
contract, ``local.py`` the built-in kind, ``fake.py`` an in-memory one for tests. This
``__init__`` imports no target code (the config model checks kind names through
``registry.kind_names`` without importing any).
"""
