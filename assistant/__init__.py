"""A patient FAQ assistant: cited, physician-framed answers from a clinic's own materials."""
from .compose import Citation
from .engine import ROUTES, Assistant, Reply
from .errors import AssistantError
from .retrieval import Hit
from .settings import Settings, load_settings

__all__ = ["Assistant", "AssistantError", "Citation", "Hit", "ROUTES", "Reply", "Settings", "load_settings"]
__version__ = "0.1.0"
