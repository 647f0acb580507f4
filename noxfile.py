"""Test matrix: every supported (Python, Django) pair, one nox session each.

    nox --list                      # the sessions, e.g. tests-3.12-django5.2
    nox -s tests-3.12-django5.2     # one of them
    nox                             # all of them (what .ci/matrix runs)
    nox -s tests-3.13-django6.0 -- -k storage   # extra args go to pytest

Interpreters are looked up on PATH (python3.X) and in pyenv's versions folder,
so no pyenv shims or interactive shell are needed. A session whose interpreter
is missing on this machine is skipped with a message saying so, never failed.
Nothing is downloaded but packages from the package index.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

import nox

# Django release line -> Python versions that line supports (and we test).
DJANGO_PYTHONS: dict[str, tuple[str, ...]] = {
    "4.2": ("3.10", "3.11", "3.12"),
    "5.2": ("3.10", "3.11", "3.12", "3.13"),
    "6.0": ("3.12", "3.13"),
}

PLUGINS = ("./plugins/dmb-uuid-names", "./plugins/dmb-sniff-content-type")

nox.options.default_venv_backend = "virtualenv"
# Never fetch a Python build from the network: use what the machine has.
nox.options.download_python = "never"
# Our own lookup below already turns a missing interpreter into a skip; this
# keeps nox from failing instead when CI is set and a path vanishes meanwhile.
nox.options.error_on_missing_interpreters = False
# Venvs are per session (so per Django version); reusing them makes reruns fast.
nox.options.reuse_venv = "yes"


def _pyenv_roots() -> list[str]:
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                roots.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    roots += [os.path.expanduser("~/.pyenv"), "/root/.pyenv"]
    return list(dict.fromkeys(roots))


def _patch_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/versions/(\d+)\.(\d+)\.(\d+)/", path)
    return tuple(int(x) for x in match.groups()) if match else (0,)


def find_python(version: str) -> str | None:
    """Absolute path of a CPython ``version`` (e.g. "3.12"), or None."""
    candidates = []
    for root in _pyenv_roots():
        # Plain releases only (3.12.1), not 3.12.1t / 3.12-dev / envs.
        for path in glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")):
            if re.search(rf"/versions/{re.escape(version)}\.\d+/bin/", path) and os.access(path, os.X_OK):
                candidates.append(path)
    if candidates:
        return max(candidates, key=_patch_key)
    on_path = shutil.which(f"python{version}")
    if on_path:
        # A pyenv shim for a version pyenv doesn't have would fail when run: check it works.
        try:
            out = subprocess.run(
                [on_path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode == 0 and out.stdout.strip() == version:
            return on_path
    return None


def _make_session(python: str, django: str) -> None:
    name = f"tests-{python}-django{django}"
    interpreter = find_python(python)

    if interpreter is None:

        def missing(session: nox.Session) -> None:
            session.skip(
                f"Python {python} not found on this machine (looked for python{python} in "
                f"{', '.join(r + '/versions' for r in _pyenv_roots())} and on PATH); "
                f"Django {django} is not tested on Python {python} here"
            )

        missing.__doc__ = f"Django {django} on Python {python} (interpreter missing: skipped)"
        nox.session(name=name, python=False, venv_backend="none")(missing)
        return

    def tests(session: nox.Session) -> None:
        session.install(
            "-e",
            ".[devserver]",
            "-r",
            "requirements-dev.txt",
            *PLUGINS,
            f"django~={django}.0",
        )
        session.run(
            "python",
            "-c",
            "import sys, django; print('python', sys.version.split()[0], '| django', django.get_version())",
        )
        session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)

    tests.__doc__ = f"Django {django} on Python {python} ({interpreter})"
    nox.session(name=name, python=interpreter)(tests)


for _django, _pythons in DJANGO_PYTHONS.items():
    for _python in _pythons:
        _make_session(_python, _django)
