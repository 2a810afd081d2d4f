"""evalkit: reproducible benchmarking (对标竞进) evaluation studies.

    import evalkit
    study = evalkit.load("data/sample")          # a folder of files, or a .duckdb store
    result = evalkit.score(study, "latest")
    result.progress, result.gaps, result.scores, result.ledger
    con = evalkit.connect("data/sample/evalkit.duckdb")   # SQL over the store
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("evalkit")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

from .config import load_config
from .errors import EvalkitError, InputError, MethodError, ParseError, Problem, StoreError
from .model import Study
from .study import Result, load, score
from .inputs.ingest import ingest, read_inputs
from .publish.folder import write_tables
from .store import connect

__all__ = ["EvalkitError", "InputError", "MethodError", "ParseError", "Problem", "Result",
           "StoreError", "Study", "__version__", "connect", "ingest", "load", "load_config",
           "read_inputs", "score", "write_tables"]
