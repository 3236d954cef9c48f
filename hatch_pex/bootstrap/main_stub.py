# hatch-pex: written verbatim as the archive's __main__.py. Compiled from source on every start, so it
# stays tiny: the runtime in .bootstrap/_hatch_pex_boot/ does the rest.
import os
import sys

__pex = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(__pex, ".bootstrap"))
__import__("_hatch_pex_boot").boot(__pex)
