"""Does an interpreter fit this pex (constraints + a wheel per project)? If the running one does not,
find one that does (PEX_PYTHON, PEX_PYTHON_PATH, PATH) and re-execute under it.

Cold path only. The facts about the running interpreter (version, tags, stdlib paths) are cached per
interpreter under `$PEX_ROOT/interpreters/`; candidates are probed by running them (subprocess).
"""

from __future__ import annotations

import marshal
import os
import sys

from . import interpreter_identity, interpreter_key
from .log import BootError, log
from .specifiers import InvalidSpecifier, satisfies_any
from .trust import read_owned
from .wheels import choose

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .pexinfo import PexInfo

FACTS_FORMAT = 1
PROBE_SLICE = 0.1  # seconds: the longest a probe is waited for before a pending ^C is noticed
# Runs under any Python (2.7 included) so that too old interpreters are refused with a clear reason;
# so it cannot use -I (3.4+), and does what -I would: with -E -s -S, the only entry of sys.path that is
# not the interpreter's own is "", the working directory, which goes before anything is imported.
PROBE = """\
import sys
sys.path[:] = [entry for entry in sys.path if entry]
if sys.version_info[:2] < (3, 9):
    sys.stdout.write('{"version": "%d.%d.%d", "implementation": "%s", "tags": null}' % (
        sys.version_info[:3] + (getattr(getattr(sys, "implementation", None), "name", "cpython"),)))
else:
    sys.path.insert(0, sys.argv[1])
    from _hatch_pex_boot.interpreter import probe
    probe()
"""


def version_string(info: Sequence[object] | None = None) -> str:
    """ "3.11.7", or "3.13.0rc1" for a pre-release (the PEP 440 form of sys.version_info)."""
    major, minor, micro, level, serial = tuple(info if info is not None else sys.version_info)[:5]
    suffix = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(str(level), "")
    return f"{major}.{minor}.{micro}" + (f"{suffix}{serial}" if suffix else "")


def facts() -> dict[str, object]:
    from .isolation import stdlib_paths
    from .tags import supported_tags

    return {
        "format": FACTS_FORMAT,
        "identity": interpreter_identity(),
        "executable": sys.executable,
        "version": version_string(),
        "implementation": sys.implementation.name,
        "tags": supported_tags(),
        "stdlib": stdlib_paths(),
    }


def current_facts(root: str | None) -> dict[str, object]:
    """facts() of the running interpreter, cached in `root/interpreters/<key>`."""
    path = os.path.join(root, "interpreters", interpreter_key()) if root else None
    data = read_owned(path) if path else None
    if data is not None:
        try:
            cached = marshal.loads(data)
            if cached.get("format") == FACTS_FORMAT and cached.get("identity") == interpreter_identity():
                return dict(cached)
        except (EOFError, ValueError, TypeError, AttributeError):
            pass
    found = facts()
    if path:
        from .bytecode import write_atomic

        write_atomic(path, marshal.dumps(found))
    return found


def describe(found: dict[str, object]) -> str:
    name = {"cpython": "CPython", "pypy": "PyPy"}.get(
        str(found["implementation"]), str(found["implementation"])
    )
    return f"{found['executable']} ({name} {found['version']})"


def fit(info: PexInfo, found: dict[str, object]) -> tuple[dict[str, str], list[str]]:
    """({project: chosen wheel}, reasons the interpreter does not fit); no reasons means it fits."""
    reasons = []
    constraints = info.interpreter_constraints
    try:
        ok = satisfies_any(constraints, str(found["version"]), str(found["implementation"]))
    except InvalidSpecifier as exc:
        raise BootError(f"PEX-INFO interpreter_constraints {constraints}: {exc}") from None
    if not ok:
        reasons.append(f"version {found['version']} does not satisfy {' or '.join(constraints)}")
    tags = found.get("tags")
    if not isinstance(tags, (list, tuple)):
        reasons.append("the hatch-pex runtime needs Python >= 3.9")
        return {}, reasons
    chosen, problems = choose(
        info.distributions,
        [str(t) for t in tags],
        str(found["version"]),
        info.requires_python,
        info.platforms,
        info.platform_distributions,
    )
    if problems:
        best = f"its best tag is {tags[0]}" if tags else "it has no tags"
        if info.platform_distributions:
            names = ", ".join(info.platform_distributions)
            reasons.append(
                f"none of the platforms of this pex ({names}) fits it ({best}): {'; '.join(problems)}"
            )
        else:
            reasons.append(f"{'; '.join(problems)} ({best})")
    return chosen, reasons


def _python_names(directory: str) -> list[str]:
    """python3.X (newest first) then python3 in one directory."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    versioned = []
    for name in names:
        minor = name[len("python3.") :]
        if name.startswith("python3.") and minor.isdigit():
            versioned.append((int(minor), name))
    ordered = [name for _, name in sorted(versioned, reverse=True)]
    if "python3" in names:
        ordered.append("python3")
    return [os.path.join(directory, name) for name in ordered]


def candidates() -> Iterator[tuple[str, str | None]]:
    """(path, None) for each interpreter to try, or (label, why it cannot be tried), in search order."""
    import shutil

    env = os.environ
    pex_python = env.get("PEX_PYTHON")
    if pex_python:
        path = pex_python if os.sep in pex_python else shutil.which(pex_python)
        yield (path, None) if path else (f"PEX_PYTHON={pex_python}", "not found on PATH")
    for item in (env.get("PEX_PYTHON_PATH") or "").split(os.pathsep):
        if not item:
            continue
        if os.path.isdir(item):
            yield from ((path, None) for path in _python_names(item))
        elif os.path.isfile(item):
            yield item, None
        else:
            yield f"PEX_PYTHON_PATH entry {item}", "does not exist"
    for directory in (env.get("PATH") or os.defpath).split(os.pathsep):
        if directory:
            yield from ((path, None) for path in _python_names(directory))


def probe_candidate(path: str, pex: str) -> tuple[dict[str, object] | None, str]:
    """Runs the candidate to learn its version and tags: (facts, "") or (None, why it failed)."""
    import json
    import subprocess

    if not os.path.lexists(path):
        return None, "does not exist"
    if not os.access(path, os.X_OK):
        return None, "not executable"
    bootstrap = os.path.join(pex, ".bootstrap")
    try:
        returncode, stdout, stderr = run_probe([path, "-E", "-s", "-S", "-c", PROBE, bootstrap], 60)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not run it: {exc}"
    if returncode != 0:
        lines = stderr.strip().splitlines() or ["no output"]
        line = lines[-1] if lines[0].startswith("Traceback") else lines[0]  # the error, not the frames
        return None, f"could not run it (exit {returncode}: {line.strip()})"
    try:
        found = json.loads(stdout)
    except ValueError:
        return None, "its probe printed no JSON"
    found.setdefault("executable", path)
    found["executable"] = path
    return found, ""


def run_probe(argv: list[str], timeout: float) -> tuple[int, str, str]:
    """subprocess.run(argv, capture_output=True, text=True, timeout=timeout), stdin /dev/null, but ^C
    ends it at once wherever it comes, and the child is killed and reaped (the start exits 130):

    * never one long wait: a SIGINT whose handler ran just before a blocking poll() began does not
      interrupt it (a busy machine widens that window): the KeyboardInterrupt would come only when
      the child ends or the timeout expires; waiting a slice at a time, it comes within a slice;
    * a SIGINT while Popen() starts the child is held until Popen() returns: raised inside it, the
      child would be left running, unknown to anyone;
    * on ^C or the timeout the child is killed and waited for (subprocess.run does not wait on ^C)."""
    import signal
    import subprocess
    import time

    deadline = time.monotonic() + timeout
    process = None
    interrupted: list[int] = []
    try:
        try:  # only the main thread may set a handler; an ignored SIGINT stays ignored
            held = signal.getsignal(signal.SIGINT) is signal.default_int_handler
            previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(1)) if held else None
        except ValueError:
            previous = None
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            if interrupted:
                raise KeyboardInterrupt
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(argv, timeout)
            try:
                stdout, stderr = process.communicate(timeout=min(PROBE_SLICE, left))
            except subprocess.TimeoutExpired:
                continue  # communicate again: nothing read so far is lost
            return process.returncode, stdout, stderr
    except BaseException:
        if process is not None:
            process.kill()
            process.wait()
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
        raise


def probe() -> None:
    """Entry of PROBE in a candidate interpreter: prints its facts as JSON."""
    import json

    from .tags import supported_tags

    sys.stdout.write(
        json.dumps(
            {"version": version_string(), "implementation": sys.implementation.name, "tags": supported_tags()}
        )
    )


def find_fitting(pex: str, info: PexInfo, refused: list[tuple[str, str]]) -> str:
    """The first interpreter in search order that fits; raises BootError naming each refusal."""
    seen = {os.path.realpath(sys.executable)}
    for path, problem in candidates():
        if problem:
            refused.append((path, problem))
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        found, problem = probe_candidate(path, pex)
        if found is None:
            refused.append((path, problem))
            log(f"refused {path}: {problem}", 2)
            continue
        _, reasons = fit(info, found)
        if reasons:
            refused.append((describe(found), "; ".join(reasons)))
            log(f"refused {describe(found)}: {'; '.join(reasons)}", 2)
            continue
        log(f"found {describe(found)}")
        return path
    raise BootError(no_fit_message(info, refused))


def no_fit_message(info: PexInfo, refused: list[tuple[str, str]]) -> str:
    wanted = " or ".join(info.interpreter_constraints) or "any version"
    lines = [
        f"no interpreter fits {info.project_name}: it needs Python {wanted} with a compatible wheel for "
        f"each of its projects ({len(info.distributions)} wheels)."
    ]
    if info.python_versions or info.platform_distributions:
        versions = ", ".join(info.python_versions) or "see the platforms"
        platforms = ", ".join(info.platform_distributions) or "any"
        lines.append(f"This file serves CPython {versions} (platforms: {platforms}).")
    lines.append("Interpreters tried:")
    lines.extend(f"  {label}: {reason}" for label, reason in refused)
    lines.append("Point PEX_PYTHON or PEX_PYTHON_PATH at a suitable interpreter.")
    return "\n".join(lines)
