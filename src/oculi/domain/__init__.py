"""Pure data shared by every wire surface, the engines and the store. No I/O here."""

from oculi.domain.conversation import Conversation, Detail, ImagePart, Message, Part, Role, TextPart
from oculi.domain.generation import Choice, Completion, Delta, FinishReason, GenerationParams, Usage

__all__ = [
    "Choice",
    "Completion",
    "Conversation",
    "Delta",
    "Detail",
    "FinishReason",
    "GenerationParams",
    "ImagePart",
    "Message",
    "Part",
    "Role",
    "TextPart",
    "Usage",
]
