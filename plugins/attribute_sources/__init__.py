"""Attribute sources: Ollama proposals and descriptor files (entry-point group
`lazlabel.attribute_sources`). No Qt, no SQL: sources return texts, the workflows store them."""

from plugins.attribute_sources.base import ClassAttributes, FileAttributeSource, FileContents
from plugins.attribute_sources.errors import (
    AttributeFileError,
    AttributeSourceError,
    ModelNotInstalled,
    NotOllamaReply,
    OllamaServerError,
    OllamaUnreachable,
    ProposalTimeout,
    ReplyTooLarge,
    SourceStopped,
    UnusableReply,
)

__all__ = [
    "AttributeFileError",
    "AttributeSourceError",
    "ClassAttributes",
    "FileAttributeSource",
    "FileContents",
    "ModelNotInstalled",
    "NotOllamaReply",
    "OllamaServerError",
    "OllamaUnreachable",
    "ProposalTimeout",
    "ReplyTooLarge",
    "SourceStopped",
    "UnusableReply",
]
