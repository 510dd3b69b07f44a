"""Where the benchmarks find the team's real skeleton samples: the folder named by the
environment variable SKELCMD_TEST_DATA (as for the tests), else ../shared/data beside the
repository."""

import os
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get("SKELCMD_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
