"""User-facing errors: one line that says which thing is wrong and what to do about it."""


class EdgeSpecError(Exception):
    """An error caused by the user's input, shown as one line (exit code 2 in the CLI)."""


class BundleError(EdgeSpecError):
    """A bundle that is missing, incomplete, corrupt or from a newer schema."""


class ExportError(EdgeSpecError):
    """A model that cannot be exported (not found, not causal, unsupported, needs remote code)."""


class DeviceError(EdgeSpecError):
    """A device or execution provider that is not present on this machine."""
