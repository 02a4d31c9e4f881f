"""An in-process iControl REST emulator for lbsync's F5 tests and benchmarks (see server.py and README.md)."""

from .server import Emulator, Fault
from .state import DeviceError, Store

__all__ = ["Emulator", "Fault", "DeviceError", "Store"]
