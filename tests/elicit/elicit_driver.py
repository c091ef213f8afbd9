"""Run ``valuesurvey <args>`` in a fresh process (the kill-and-resume test SIGKILLs it)."""

from __future__ import annotations

import sys
import types

try:
    import valuesurvey.elicit.registry  # noqa: F401
except ImportError:  # until the registry lands, study.yaml models are complete and resolve to themselves
    shim = types.ModuleType("valuesurvey.elicit.registry")
    shim.resolve_model = lambda spec: spec  # type: ignore[attr-defined]
    sys.modules["valuesurvey.elicit.registry"] = shim

from valuesurvey.cli import app

if __name__ == "__main__":
    app(sys.argv[1:], prog_name="valuesurvey")
