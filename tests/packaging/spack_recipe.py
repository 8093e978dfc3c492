# SPDX-License-Identifier: MIT OR Apache-2.0
"""CTest test "spack_recipe": packaging/spack/packages/flashmap/package.py
against the build it drives, without Spack: it must parse, offer the
project's version, ask for the CMake the build needs and the licence of
LICENSE, and set only FLASHMAP_* options that CMakeLists.txt defines.
    spack_recipe.py SOURCE_DIR VERSION"""
import ast
import pathlib
import re
import sys

src, version = pathlib.Path(sys.argv[1]), sys.argv[2]
recipe = (src / "packaging/spack/packages/flashmap/package.py").read_text()
failures = []
tree = ast.parse(recipe)  # a syntax error fails here

calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
strings = lambda name: [a.value for c in calls if c.func.id == name for a in c.args[:1] if isinstance(a, ast.Constant)]

if version not in strings("version"):
    failures.append(f"no version(\"{version}\") (the project's version)")
minimum = re.search(r"cmake_minimum_required\(VERSION ([0-9]+\.[0-9]+)", (src / "CMakeLists.txt").read_text()).group(1)
if f"cmake@{minimum}:" not in strings("depends_on"):
    failures.append(f"no depends_on(\"cmake@{minimum}:\") (CMakeLists.txt's minimum)")
if "MIT OR Apache-2.0" not in strings("license") or "MIT OR Apache-2.0" not in (src / "LICENSE").read_text():
    failures.append("license(\"MIT OR Apache-2.0\") missing or not LICENSE's")

cmake_text = "\n".join(p.read_text() for p in src.rglob("CMakeLists.txt") if "build" not in p.parts)
defined = set(re.findall(r"option\((FLASHMAP_\w+)", cmake_text)) | set(re.findall(r"set\((FLASHMAP_\w+) [^)]*CACHE", cmake_text))
for name in set(re.findall(r"\"(FLASHMAP_\w+)\"", recipe)):
    if name not in defined:
        failures.append(f"{name} is not an option of CMakeLists.txt")

for f in failures:
    print(f"spack_recipe: FAILED: {f}")
if failures:
    sys.exit(1)
print(f"spack_recipe: version {version}, cmake@{minimum}:, options all defined: passed")
