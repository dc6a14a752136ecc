"""The playground: a web page, served by oculi itself, to try the API in a browser.

Everything lives under one path prefix, ``/playground`` (the page, its assets
and its small config document), plus ``/`` which redirects there, so an
authentication allow-list needs one prefix for it. The page is plain HTML,
CSS and JavaScript modules in ``static/`` (no build step, no library, no
external request) and talks to the server only through the public API:
``/v1/models``, ``/v1/image-tokens`` (tiles and cost, the server's own
counting) and ``/v1/responses`` (streamed), with the key the user gives it.
"""
