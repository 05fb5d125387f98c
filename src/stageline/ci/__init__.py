"""CI files for a service's pipeline: ``stageline ci init github|gitlab``.

``plan`` reads the pipeline file's facts a workflow needs (pure); ``render`` turns them
into a GitHub Actions workflow or a ``.gitlab-ci.yml`` from the Jinja2 templates beside
it, and writes one (refusing to overwrite without ``force``). docs/ci.md shows both
files as written for examples/shop.
"""
