"""nbval runs these notebooks (``./dev test``): their kernels get a PMTOOLS_HOME of their own.

The workbench notebook opens the registry of firms and jobs, which lives in PMTOOLS_HOME (by
default the user's data folder); tests never touch the real home folder. Set at import, before
nbval starts a kernel (tests/conftest.py does not reach this folder).
"""

import os
import tempfile

if not os.environ.get("PMTOOLS_HOME"):
    os.environ["PMTOOLS_HOME"] = tempfile.mkdtemp(prefix="pmtools-notebooks-home-")
