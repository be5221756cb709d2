"""Errors raised at ROMA Explorer's boundaries; each says what was wrong and how to fix it."""


class RomaError(Exception):
    """Base class of every error ROMA Explorer raises on purpose."""


class GraphError(RomaError, ValueError):
    """A graph (or the arrays it is built from) is malformed."""


class FileFormatError(RomaError, ValueError):
    """A file could not be read; the message names the file and, where known, the line."""


class SpecError(RomaError, ValueError):
    """A parameter of a spec (graph, dynamics, simulation, model, training) is invalid."""


class SimulationError(RomaError, ValueError):
    """A simulation cannot run with the inputs given."""


class StoreError(RomaError, OSError):
    """A store on disk is missing, exists already, or is not what was expected."""


class DeviceError(RomaError, RuntimeError):
    """The requested compute device is not available."""


class HierarchyError(RomaError, ValueError):
    """A renormalization hierarchy cannot be built or applied as asked."""


class CheckpointError(RomaError, ValueError):
    """A checkpoint is missing, corrupted, or does not match the model spec."""


class AccessError(RomaError, PermissionError):
    """A path or setting would reach beyond what is allowed (outside the workspace, an
    unauthenticated public server)."""


class LimitError(RomaError, ValueError):
    """A job asks for more (nodes, steps, memory) than the server allows one job."""


class Cancelled(RomaError):
    """Raised from a progress callback to stop a long computation cleanly."""
