"""Exceptions a user sees; each names what was wrong and what would be valid."""


class ConfigurationError(ValueError):
    """A bad argument or an unsupported model/layer, raised before any training runs."""
