"""The push methods, by --method name. Each module has the same connect / desired / plan / apply
(targets.protocol.Pusher), so the command line never branches on the method."""

from __future__ import annotations

from . import as3push, push

PUSHERS = {push.METHOD: push, as3push.METHOD: as3push}
