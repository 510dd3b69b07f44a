"""Where the tests find the team's real skeleton samples: the folder named by the environment
variable SKELCMD_TEST_DATA, else ../shared/data beside the repository. The files there are
never committed; every test that reads them skips when its part of the folder is absent."""

import os
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get("SKELCMD_TEST_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
