"""The Files API over HTTP (``/v1/files``): upload (streamed multipart), list, retrieve, content, delete."""
