# -*- Python -*-
# lit configuration of the internvl-opt tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "INTERNVL"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
# Long single-line functions make FileCheck's input dumps unreadable.
config.environment["FILECHECK_OPTS"] = "--dump-input=fail --dump-input-context=2"
config.suffixes = [".mlir", ".test"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "CMakeLists.txt", "lib", "unit", "inputs",
                   "regressions"]

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.internvl_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%models", os.path.join(config.internvl_src_root, "models")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "inputs")))
config.substitutions.append(("%tools", config.internvl_tools_dir))
config.substitutions.append(("%scripts", os.path.join(config.internvl_src_root, "scripts")))

llvm_config.with_system_environment(
    ["HOME", "INCLUDE", "LIB", "TMP", "TEMP", "ASAN_OPTIONS", "UBSAN_OPTIONS"])
llvm_config.use_default_substitutions()

tool_dirs = [config.internvl_tools_dir, config.llvm_tools_dir]
tools = [
    ToolSubst("internvl-opt", unresolved="fatal"),
    ToolSubst("internvl-import", unresolved="fatal"),
    ToolSubst("internvl-run", unresolved="fatal"),
    ToolSubst("internvl-compile", unresolved="fatal"),
    ToolSubst("internvl-fit", unresolved="fatal"),
    ToolSubst("fuzz-import", unresolved="fatal"),
    ToolSubst("fuzz-pipeline", unresolved="fatal"),
    ToolSubst("fuzz-plan", unresolved="fatal"),
    ToolSubst("fuzz-tensor-io", unresolved="fatal"),
    ToolSubst("not", unresolved="fatal"),
    ToolSubst("count", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# The CUDA target of internvl-compile needs the CUDA runtime built (nvcc at
# configure time).
if config.internvl_has_cuda:
    config.available_features.add("cuda")
# Multi-rank steps link MPI when internvl-compile was built with it.
if config.internvl_has_mpi:
    config.available_features.add("mpi")
