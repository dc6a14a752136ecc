"""oculi: a self-hosted image-understanding API server.

Data flow: request → wire schema (``api/``, ``grpc/``) → ``domain.Conversation``
→ image intake (``intake/``) → engine (``engines/``) → result stream
(``service/``) → wire response (+ ``store/``).
"""

__version__ = "0.1.0"
