"""Pure data shared by every wire surface, the engines and the store. No I/O here."""

from oculi.domain.conversation import Conversation, Detail, ImagePart, Message, Part, Role, TextPart
from oculi.domain.generation import (
    Choice,
    Completion,
    Delta,
    FinishReason,
    GenerationParams,
    ImageDetailUsage,
    Usage,
)
from oculi.domain.image import ImageHeader
from oculi.domain.tools import (
    FormatKind,
    FunctionTool,
    OutputSpec,
    ResponseFormat,
    ToolCall,
    ToolCallChunk,
    ToolChoice,
    ToolChoiceMode,
)

__all__ = [
    "Choice",
    "Completion",
    "Conversation",
    "Delta",
    "Detail",
    "FinishReason",
    "FormatKind",
    "FunctionTool",
    "GenerationParams",
    "ImageDetailUsage",
    "ImageHeader",
    "ImagePart",
    "Message",
    "OutputSpec",
    "Part",
    "ResponseFormat",
    "Role",
    "TextPart",
    "ToolCall",
    "ToolCallChunk",
    "ToolChoice",
    "ToolChoiceMode",
    "Usage",
]
