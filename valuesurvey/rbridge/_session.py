"""The embedded R session: sources ``R/*.R`` once per process and calls their functions."""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

from valuesurvey.errors import MissingComponentError, RError

__all__ = ["RSession", "default_r_dir", "get_session"]

R_PACKAGES = ("lme4", "lmerTest")
INSTALL_HINT = "bash scripts/setup.sh (Debian: apt-get install r-base-core r-cran-lme4 r-cran-lmertest)"

# Calls run inside tryCatch so that an R error comes back as data (message and call) instead of being
# printed to the console by R's error handler.
_CALL_WRAPPER = """
function(fn, args) {
  tryCatch(
    list(ok = TRUE, value = do.call(fn, args)),
    error = function(e) {
      call <- conditionCall(e)
      list(ok = FALSE, message = conditionMessage(e),
           call = if (is.null(call)) "" else paste(deparse(call, nlines = 1L), collapse = " "))
    })
}
"""


def default_r_dir() -> Path:
    """``$VALUESURVEY_R_DIR`` or the ``R/`` folder next to the package (the source checkout)."""
    configured = os.environ.get("VALUESURVEY_R_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "R"


def _import_rinterface() -> Any:
    # rpy2 adds R's library folders (which on Debian hold the system libpython) to LD_LIBRARY_PATH when
    # it starts R. This process has already resolved its libraries, so the change only reaches child
    # processes, where it makes another Python (a Jupyter kernel, the llama.cpp server) load the wrong
    # libpython. Keep the environment as it was.
    saved = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.rinterface as ri
        import rpy2.rinterface_lib.callbacks as callbacks

        # R's console output would otherwise go straight to stdout; errors come back as data instead.
        callbacks.consolewrite_print = lambda text: None
        callbacks.consolewrite_warnerror = lambda text: None
        ri.initr_simple()
    except (ImportError, OSError) as exc:
        raise MissingComponentError("R with rpy2 3.5", INSTALL_HINT) from exc
    finally:
        if saved is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = saved
    return ri


class RSession:
    """R functions from the ``R/`` folder, callable with pandas frames and Python scalars.

    Parameters
    ----------
    r_dir : path to the folder whose ``*.R`` files are sourced (in name order) into a private
        environment; default :func:`default_r_dir`.
    """

    def __init__(self, r_dir: Path | None = None) -> None:
        self.r_dir = Path(r_dir) if r_dir is not None else default_r_dir()
        self._ri = _import_rinterface()
        self._lock = threading.Lock()
        self._env = self._ri.baseenv["new.env"]()
        self._wrapper = self._ri.baseenv["eval"](self._ri.parse(_CALL_WRAPPER))
        self._load_packages()
        self._source_files()

    def __repr__(self) -> str:
        return f"RSession(r_dir={str(self.r_dir)!r})"

    def _load_packages(self) -> None:
        require = self._ri.baseenv["requireNamespace"]
        for package in R_PACKAGES:
            if not require(package, quietly=True)[0]:
                raise MissingComponentError(f"R package {package}", INSTALL_HINT)

    def _source_files(self) -> None:
        files = sorted(self.r_dir.glob("*.R"))
        if not files:
            raise MissingComponentError(
                f"R sources in {self.r_dir}", "set VALUESURVEY_R_DIR to the R/ folder"
            )
        source = self._ri.baseenv["sys.source"]
        for path in files:
            self._invoke(source, [str(path)], {"envir": self._env, "keep.source": False})

    def _invoke(self, function: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        from valuesurvey.rbridge._convert import from_r, to_r

        r_args = self._ri.ListSexpVector([to_r(value) for value in [*args, *kwargs.values()]])
        names = [""] * len(args) + list(kwargs)
        r_args.do_slot_assign("names", self._ri.StrSexpVector(names))
        with self._lock:  # the embedded R is single-threaded
            outcome = self._wrapper(function, r_args)
        result = dict(zip(outcome.do_slot("names"), outcome, strict=True))
        if not result["ok"][0]:
            raise RError(str(result["message"][0]), call=str(result["call"][0]) or None)
        return from_r(result["value"])

    def function(self, name: str) -> Any:
        """The R function ``name`` from the sourced files (or any attached package)."""
        try:
            return self._env.find(name)
        except KeyError:
            raise RError(f"no R function named {name!r} in {self.r_dir} or attached packages") from None

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call R function ``name``; frames cross column by column, results come back converted.

        A data.frame result becomes a DataFrame, a named list a dict, a length-one vector a scalar.
        An R error raises :class:`~valuesurvey.errors.RError` with R's message and call.
        """
        return self._invoke(self.function(name), list(args), kwargs)

    def call_code(self, function_code: str, *args: Any, **kwargs: Any) -> Any:
        """Call an anonymous R function given as code, e.g. ``"function(d) nrow(d)"``."""
        with self._lock:
            function = self._ri.baseenv["eval"](self._ri.parse(function_code), self._env)
        return self._invoke(function, list(args), kwargs)

    def eval(self, code: str) -> Any:
        """Evaluate R code in the session's environment and convert the result."""
        from valuesurvey.rbridge._convert import from_r

        with self._lock:
            try:
                value = self._ri.baseenv["eval"](self._ri.parse(code), self._env)
            except self._ri.embedded.RRuntimeError as exc:
                raise RError(str(exc).strip(), call=code) from exc
        return from_r(value)

    def versions(self) -> dict[str, str]:
        """R and R package versions, for manifests and the doctor."""
        return self.eval(
            'list(R = paste(R.version$major, R.version$minor, sep = "."), '
            'lme4 = as.character(packageVersion("lme4")), '
            'lmerTest = as.character(packageVersion("lmerTest")), '
            'emmeans = if (requireNamespace("emmeans", quietly = TRUE)) '
            'as.character(packageVersion("emmeans")) else "missing")'
        )


@functools.cache
def get_session(r_dir: Path | None = None) -> RSession:
    """The process's R session for ``r_dir`` (created, and the files sourced, on first use)."""
    return RSession(r_dir)
