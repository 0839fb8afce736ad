"""A patient FAQ assistant: cited, physician-framed answers from a clinic's own materials."""
from .engine import ROUTES, Assistant
from .errors import AssistantError
from .settings import Settings, load_settings
from .types import Citation, Hit, Reply

__all__ = ["Assistant", "AssistantError", "Citation", "Hit", "ROUTES", "Reply", "Settings", "load_settings"]
__version__ = "0.1.0"
