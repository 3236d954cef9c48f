# hatch-pex: written verbatim as the archive's __main__.py. Compiled from source on every start, so it
# stays tiny: the runtime in .bootstrap/_hatch_pex_boot/ does the rest.
import os
import sys

__pex = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(__pex, ".bootstrap"))
try:  # the start up to the application: what it raises is a damaged file or a runtime bug, not the app's
    __run = __import__("_hatch_pex_boot").boot(__pex)
except KeyboardInterrupt:  # ^C anywhere before the application runs: no traceback, exit 130
    sys.exit(130)
except Exception as __exc:  # damage.py tells which, loaded on its own: any other module may be damaged
    sys.path.insert(0, os.path.join(__pex, ".bootstrap", "_hatch_pex_boot"))
    try:
        __damage = __import__("damage")
    except Exception as __why:
        sys.stderr.write(
            "hatch-pex: error: this file's runtime is damaged: .bootstrap/_hatch_pex_boot/damage.py could "
            f"not be loaded ({__why}); rebuild it or copy it again\n"
        )
        sys.exit(2)
    __damage.failed_start(__pex, __exc)
__run()
