"""The HTTP API: one sub-package per wire surface (router → schemas ↔ mapper ↔ domain), plus the shared plumbing.

- ``chat/``: ``POST /v1/chat/completions`` and deferred completions.
- ``responses/``: ``POST /v1/responses``, ``GET`` / ``DELETE /v1/responses/{id}``.
- ``models/``: ``/v1/models``, ``/v1/language-models``, ``/v1/api-key``.
- ``tokenize/``: ``POST /v1/tokenize-text`` and ``POST /v1/image-tokens``.
- ``playground/``: the web page at ``/playground`` (``/`` redirects there), which
  uses only the public API above.
- ``errors.py`` (the one error → HTTP mapping), ``middleware.py`` (request id,
  body limit, access log, metrics), ``sse.py`` (event streams), ``context.py``
  (runtime + authenticated caller dependencies).
"""
