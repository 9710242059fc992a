"""`python -m spendscope.docgen`: rewrite the generated files of docs/."""

import sys

from . import write

for path in write():
    print(path, file=sys.stderr)
