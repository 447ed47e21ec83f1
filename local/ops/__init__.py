"""Operators' tools for a deployed or local stack (README "Deploying").

They reuse the function's own validator and masking, so the function's package is made importable
here the way Lambda imports it (its CodeUri on sys.path).
"""

from __future__ import annotations

import sys
from pathlib import Path

CODE_URI = Path(__file__).resolve().parents[2] / "functions" / "status_writer"
if str(CODE_URI) not in sys.path:
    sys.path.append(str(CODE_URI))
