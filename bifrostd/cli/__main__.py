"""``python -m bifrostd.cli``: the same as the installed ``bifrostctl``."""

from . import main

main()
