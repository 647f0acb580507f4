"""Test matrix: every supported (Python, Django) pair, one nox session each.

    nox --list                      # the sessions, e.g. tests-3.12-django5.2
    nox -s tests-3.12-django5.2     # one of them
    nox                             # all of them (what .ci/matrix runs)
    nox -s tests-3.13-django6.0 -- -k storage   # extra args go to pytest
    nox -s lowest                   # the oldest versions pyproject.toml allows
    nox -s newest                   # the newest release of everything

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
from pathlib import Path

import nox

# Django release line -> Python versions that line supports (and we test).
DJANGO_PYTHONS: dict[str, tuple[str, ...]] = {
    "4.2": ("3.10", "3.11", "3.12"),
    "5.2": ("3.10", "3.11", "3.12", "3.13"),
    "6.0": ("3.12", "3.13"),
}

PLUGINS = ("./plugins/dmb-uuid-names", "./plugins/dmb-sniff-content-type")
ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")

# Oldest and newest Python that requires-python allows and this matrix knows.
LOWEST_PYTHON = "3.10"
NEWEST_PYTHON = "3.13"
# selenium's releases that take urllib3 1.26 are older than the pinned one; the
# browser tests don't care which selenium drives Chromium.
UNPIN_ON_LOWEST = ("selenium",)

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


def lowest_constraints() -> list[str]:
    """``name==floor`` for every runtime dependency with a lower bound in pyproject.toml.

    ``minio>=7.2,<8`` gives ``minio==7.2`` (which pip matches to 7.2.0); a
    dependency without a floor (certifi) is left to the resolver.
    """
    pins = []
    for requirement in PYPROJECT["project"]["dependencies"]:
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*(?:\[[^]]*\])?\s*(.*)$", requirement)
        assert match, requirement
        name, specifiers = match.groups()
        floor = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", specifiers)
        if floor:
            pins.append(f"{name}=={floor.group(1)}")
    return pins


def _test_requirements(unpin: tuple[str, ...] = ()) -> list[str]:
    """The developer requirements (requirements-dev.txt), with the pins of ``unpin`` dropped."""
    result = []
    lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    for requirement in (line.strip() for line in lines if line.strip() and not line.startswith("#")):
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        result.append(name if name.lower() in unpin else requirement)
    return result


def _report_versions(session: nox.Session) -> None:
    session.run(
        "python",
        "-c",
        "import sys; from importlib.metadata import version as v; print('python', sys.version.split()[0], "
        "*(f'| {d} {v(d)}' for d in ('django', 'minio', 'pluggy', 'urllib3')))",
    )


def _versions_session(name: str, python: str, install: list[str], doc: str) -> None:
    interpreter = find_python(python)
    if interpreter is None:

        def missing(session: nox.Session) -> None:
            session.skip(f"Python {python} not found on this machine: the {name} versions go untested here")

        missing.__doc__ = f"{doc} (Python {python} missing: skipped)"
        nox.session(name=name, python=False, venv_backend="none")(missing)
        return

    def run(session: nox.Session) -> None:
        args = list(install)
        if name == "lowest":
            constraints = Path(session.create_tmp()) / "lowest-constraints.txt"
            constraints.write_text("\n".join(lowest_constraints()) + "\n")
            args = ["-c", str(constraints), *args]
        session.install(*args)
        _report_versions(session)
        # The plugins' own tests register them with the core's manager: pluggy's floor matters there.
        # They run first so that the suite's closing line is the last one (.ci/matrix reads it).
        for plugin in PLUGINS:
            with session.chdir(plugin):
                session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
        session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)

    run.__doc__ = f"{doc} ({interpreter})"
    nox.session(name=name, python=interpreter)(run)


for _django, _pythons in DJANGO_PYTHONS.items():
    for _python in _pythons:
        _make_session(_python, _django)

_versions_session(
    "lowest",
    LOWEST_PYTHON,
    ["-e", ".", *_test_requirements(unpin=UNPIN_ON_LOWEST), *PLUGINS],
    "The suite on the oldest Python and the lowest version of every dependency pyproject.toml allows",
)
_versions_session(
    "newest",
    NEWEST_PYTHON,
    ["--upgrade", "--upgrade-strategy", "eager", "-e", ".", "-r", "requirements-dev.txt", *PLUGINS],
    "The suite on the newest Python and the newest release of every dependency",
)
