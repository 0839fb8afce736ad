"""One small hierarchy of errors; messages say what failed and how to fix it."""


class AssistantError(Exception):
    """Base class for every error the assistant raises on purpose."""


class ConfigError(AssistantError):
    """A setting has an invalid value."""


class CorpusError(AssistantError):
    """The corpus folder is missing or holds nothing usable."""


class IndexError_(AssistantError):
    """Base for index problems (named with a trailing underscore to keep the builtin)."""


class IndexMissingError(IndexError_):
    """No index has been built at the given folder."""


class IndexMismatchError(IndexError_):
    """The index was built by another embedding model or schema version."""


class IndexCorruptError(IndexError_):
    """An index file is unreadable or inconsistent."""


class IndexBusyError(IndexError_):
    """Another build holds the index lock."""


class ModelError(AssistantError):
    """The embedding model or the optional chat model cannot be loaded."""


class InputError(AssistantError):
    """A question or history the assistant cannot accept."""


class StoreError(AssistantError):
    """The question-log database cannot be opened, reached or migrated."""
