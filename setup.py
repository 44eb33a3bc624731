"""Build the C module tpython._native; tpython still installs if it cannot be built.

Metadata lives in pyproject.toml; this file only declares the extension.
`optional=True` makes setuptools warn and go on when there is no compiler or
no Python headers; tpython then runs the Python engine, reports the open_code
hook as unavailable (`tpython info`, `tpython.start`) and refuses policies that
require either. The USDT probe is compiled in when <sys/sdt.h> is present
(Debian: systemtap-sdt-dev). SHA-256 (the record chain, code digests) comes
from GNU Nettle (Debian: nettle-dev to build, libnettle8 to run), which loads
in a fraction of the time OpenSSL's libcrypto takes at every start.
"""
import os  # noqa: I001  (distutils comes after setuptools, which provides it)
import shutil
import sys
import sysconfig
import tempfile
from typing import Optional

from setuptools import Command, Extension, setup

# setuptools' own copy of distutils (Python 3.12 has none), found once setuptools is imported
from distutils.command.build_scripts import build_scripts

ROOT = os.path.dirname(os.path.abspath(__file__))
NATIVE = "src/tpython/native/"
NATIVE_SOURCES = [NATIVE + name for name in ("module.c", "dispatch.c", "record.c", "render.c", "attrib.c",
                                             "opencode.c", "codecheck.c", "kernel.c", "conditions.c", "spawn.c",
                                             "regex.c", "literals.c", "net.c", "repeats.c", "signals.c")]
NATIVE_HEADERS = [NATIVE + name for name in ("dispatch.h", "record.h", "render.h", "attrib.h", "opencode.h",
                                             "codecheck.h", "kernel.h", "conditions.h", "probes.h", "spawn.h",
                                             "regex.h", "literals.h", "net.h", "repeats.h", "signals.h")]
NATIVE_SOURCES += [NATIVE + "trust.c", NATIVE + "guard.c"]  # the integrity checks' trust sources, the guard
NATIVE_HEADERS += [NATIVE + "trust.h", NATIVE + "guard.h"]


def _c_string(data: bytes) -> str:
    """DATA, any bytes, as a C string literal, one source line per line (octal escapes)."""
    lines = data.splitlines(keepends=True) or [b""]
    return "\n".join('"' + "".join(f"\\{byte:03o}" for byte in line) + '"' for line in lines)


def build_launcher(target: str, script: Optional[bytes] = None, build_executable: Optional[bytes] = None) -> None:
    """Compile scripts/tpython.c, with SCRIPT inside it (scripts/tpython), to TARGET: the
    `tpython` command as a program that embeds this interpreter (one execve instead of
    the shell line's two), falling back to BUILD_EXECUTABLE (this interpreter) when no
    python is beside it. Raises where it cannot be built: a static interpreter (no
    libpython to link), no compiler or headers. tests/test_command_launcher.py builds
    launchers with it too."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise RuntimeError("this interpreter is not a shared-library build (Py_ENABLE_SHARED)")
    from distutils.ccompiler import new_compiler  # setuptools' copy, where the standard library has none
    from distutils.sysconfig import customize_compiler

    if script is None:
        with open(os.path.join(ROOT, "scripts", "tpython"), "rb") as f:
            script = f.read()
    if build_executable is None:
        build_executable = os.fsencode(sys.executable)
    libdir = sysconfig.get_config_var("LIBDIR")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "tpython_script.h"), "w") as header:
            header.write(f"#define TPYTHON_BUILD_EXECUTABLE {_c_string(build_executable)}\n"
                         f"static const char TPYTHON_SCRIPT[] =\n{_c_string(script)};\n")
        compiler = new_compiler()
        customize_compiler(compiler)
        objects = compiler.compile([os.path.join(ROOT, "scripts", "tpython.c")], output_dir=tmp,
                                   include_dirs=[tmp, sysconfig.get_paths()["include"]],
                                   extra_postargs=["-O2", "-Wall", "-Wextra"])
        compiler.link_executable(objects, "tpython", output_dir=tmp, library_dirs=[libdir],
                                 libraries=["python" + sysconfig.get_config_var("LDVERSION")],
                                 runtime_library_dirs=[libdir])
        shutil.copyfile(os.path.join(tmp, "tpython"), target)
    os.chmod(target, 0o755)


class BuildScripts(build_scripts):
    """The `tpython` command: the native launcher (scripts/tpython.c) where it builds,
    else the shell script (scripts/tpython), which does the same with a second execve."""

    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_dir, "tpython")
        try:
            build_launcher(target + ".native")
            os.replace(target + ".native", target)
        except Exception as exc:  # CompileError, LinkError, OSError, ...: the script stays
            self.warn(f"tpython: the native launcher was not built ({exc}); installing the shell script")


class BuildCaches(Command):
    """tpython's start-up caches, made from the package as built: the bundle of its compiled
    modules (tpython/startup_bundle.py) and the parsed and merged built-in profiles
    (tpython/policy/profile_cache.py). Into the wheel, so that they are installed files that
    `pip uninstall` removes; for an editable install (setuptools sets editable_mode), beside
    the sources. A run of tpython never writes them."""

    description = "build tpython's start-up bundle and profile caches"
    user_options: "list[tuple[str, Optional[str], str]]" = []
    editable_mode = False

    def initialize_options(self) -> None:
        self.build_lib: Optional[str] = None

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def run(self) -> None:
        editable = bool(self.editable_mode)
        parent = os.path.join(ROOT, "src") if editable else os.path.abspath(self.build_lib or "")
        for name in [n for n in sys.modules if n == "tpython" or n.startswith("tpython.")]:
            del sys.modules[name]  # this build's own copy, not one imported before
        sys.path.insert(0, parent)
        try:
            from tpython import startup_bundle
            from tpython.policy import profile_cache

            written = [startup_bundle.build(os.path.join(parent, "tpython"), sealed=not editable)]
            # `{tpython}` in strict is merged for where pip installs for this interpreter
            installed_at = None if editable else os.path.join(sysconfig.get_paths()["platlib"], "tpython")
            written += profile_cache.build(sealed=not editable, installed_at=installed_at)
        finally:
            sys.path.remove(parent)
            for name in [n for n in sys.modules if n == "tpython" or n.startswith("tpython.")]:
                del sys.modules[name]
        for path in written:
            self.announce(f"tpython: wrote {os.path.relpath(path, parent)}", level=2)

    def get_outputs(self) -> "list[str]":
        return []


if __name__ == "__main__":  # as pip's build backend and `python setup.py` run it; not when a test imports it
    from setuptools.command.build import build

    build.sub_commands.append(("build_caches", None))  # last: after build_py and build_ext
    setup(cmdclass={"build_scripts": BuildScripts, "build_caches": BuildCaches},
          ext_modules=[Extension("tpython._native", NATIVE_SOURCES, depends=NATIVE_HEADERS,
                                 libraries=["nettle"],  # SHA-256 (GNU Nettle)
                                 extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
                                 optional=True)])
