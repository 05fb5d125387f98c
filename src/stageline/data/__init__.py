"""Anonymized production snapshots: masking rules, snapshots, clones and the PII scan.

``rules`` (the ``[data]`` table's model), ``masking`` (pure keyed transformers),
``snapshot`` (plan, take, list, drop, restore), ``clone`` (template clones),
``fingerprints`` (keyed fingerprints of masked source values) and ``scan`` (the leak
scan behind the ``pii-scan`` gate).
"""
