"""evalkit: reproducible benchmarking (对标竞进) evaluation studies.

    study = evalkit.load("data/sample")          # or a .duckdb store
    result = evalkit.score(study, "latest")
    result.progress, result.gaps, result.scores, result.ledger
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("evalkit")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

from .errors import EvalkitError, InputError, MethodError, ParseError, Problem, StoreError
from .model import Study

__all__ = ["EvalkitError", "InputError", "MethodError", "ParseError", "Problem", "StoreError",
           "Study", "__version__"]
