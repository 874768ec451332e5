"""User-facing errors: the CLI prints them on one line and exits with code 2."""


class UserError(Exception):
    """Bad input from a user (file, flag, config). The message names the field and the fix."""


class SceneError(UserError):
    """A scene that fails validation; the message starts with the field path."""


class ConfigError(UserError):
    """A config file or --set override that is wrong."""


class SimulationError(UserError):
    """A scene whose simulation turned non-finite (inf/NaN): its values are too extreme for Pymunk."""
