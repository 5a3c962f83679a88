import os
import sys
import tempfile

import lit.formats

config.name = "quant-opt"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(tempfile.gettempdir(), "quantopt-lit")
# Tools installed next to the running interpreter (quant-opt, filecheck) must be found even when lit runs
# outside an activated virtualenv.
config.environment["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), config.environment.get("PATH", os.environ["PATH"])])
config.substitutions.append(("%zoo", os.path.abspath(os.path.join(config.test_source_root, "..", "..", "..", "shared", "zoo"))))
