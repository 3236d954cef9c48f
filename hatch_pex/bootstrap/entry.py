"""What the pex runs: its entry point, PEX_MODULE, PEX_SCRIPT, or the interpreter mode.

`choose` runs before anything is changed (its errors are start failures); `run` runs the user's code and
lets its exceptions propagate, so Python prints the usual traceback and exits 1.
"""

from __future__ import annotations

import os
import sys

from .log import BootError, env_flag, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# Set by reexec.reexec when this interpreter ran with -P or PYTHONSAFEPATH (3.11+): the interpreter a
# pex moves to may be a 3.9 or 3.10, which knows neither, so the rule travels in the environment. Taken
# out of it here, once, so that the application's own children do not inherit it.
SAFE_PATH_MARKER = "_HATCH_PEX_SAFE_PATH"
_SAFE_PATH_INHERITED = os.environ.pop(SAFE_PATH_MARKER, None) == "1"


def safe_path() -> bool:
    """Whether the interpreter mode leaves the working directory (or the script's) off sys.path, as
    the interpreter itself does under -I (isolated, every version) and -P / PYTHONSAFEPATH (3.11+)."""
    flags = sys.flags
    return bool(flags.isolated or getattr(flags, "safe_path", False) or _SAFE_PATH_INHERITED)


def choose(entry_point: str | None, entries: Sequence[str]) -> tuple[str, str]:
    """(kind, value): ("call", "mod:func"), ("module", "mod"), ("path", file) or ("interpreter", "")."""
    env = os.environ
    if env_flag("PEX_INTERPRETER"):
        return _interpreter_target()
    script = env.get("PEX_SCRIPT")
    if script:
        return script_target(script, entries)
    target = env.get("PEX_MODULE") or entry_point
    if not target:
        return _interpreter_target()
    return parse_entry_point(target)


def inject_args(args: object, entry_point: object) -> None:
    """PEX's `inject_args`: the pex's own arguments go before the user's, when what runs is what the pex
    was built to run (its entry point): not under PEX_INTERPRETER, PEX_SCRIPT or PEX_MODULE, which run
    something else (as in PEX)."""
    if not args or not isinstance(args, (tuple, list)) or not entry_point:
        return
    env = os.environ
    if env_flag("PEX_INTERPRETER") or env.get("PEX_SCRIPT") or env.get("PEX_MODULE"):
        return
    sys.argv[1:1] = [str(arg) for arg in args]


def parse_entry_point(text: str) -> tuple[str, str]:
    spec = text.split("[", 1)[0].strip()  # drop console-script extras: "mod:func [extra]"
    module, _, attrs = spec.partition(":")
    if not module.strip() or (":" in spec and not attrs.strip()):
        raise BootError(f"entry point {text!r} is not 'module' or 'module:function'")
    return ("call", f"{module.strip()}:{attrs.strip()}") if attrs else ("module", module.strip())


def _interpreter_target() -> tuple[str, str]:
    args = sys.argv[1:]
    if args and args[0].startswith("-") and not args[0].startswith(("-c", "-m")) and args[0] != "-":
        raise BootError(f"interpreter mode takes -c CODE, -m MODULE, - or a script path; not {args[0]!r}")
    if args and args[0] in ("-c", "-m") and len(args) < 2:
        raise BootError(f"interpreter mode: {args[0]} needs an argument")
    return ("interpreter", "")


def console_scripts(entries: Sequence[str]) -> dict[str, str]:
    """{script name: "mod:func"} from every entry's dist-info entry_points.txt (first entry wins)."""
    scripts: dict[str, str] = {}
    for entry in entries:
        for name in _listdir(entry):
            if not name.endswith(".dist-info"):
                continue
            try:
                with open(os.path.join(entry, name, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except OSError:
                continue
            for key, value in parse_entry_points(text, ("console_scripts", "gui_scripts")):
                scripts.setdefault(key, value)
    return scripts


def parse_entry_points(text: str, sections: Sequence[str]) -> list[tuple[str, str]]:
    found, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section in sections and "=" in line:
            key, _, value = line.partition("=")
            found.append((key.strip(), value.strip()))
    return found


def data_scripts(entries: Sequence[str]) -> dict[str, str]:
    """{name: path} of the plain scripts wheels ship in <name>.data/scripts."""
    scripts: dict[str, str] = {}
    for entry in entries:
        for name in _listdir(entry):
            if name.endswith(".data"):
                directory = os.path.join(entry, name, "scripts")
                for script in _listdir(directory):
                    scripts.setdefault(script, os.path.join(directory, script))
    return scripts


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def script_target(script: str, entries: Sequence[str]) -> tuple[str, str]:
    known = console_scripts(entries)
    if script in known:
        return parse_entry_point(known[script])
    plain = data_scripts(entries)
    if script in plain:
        return ("path", plain[script])
    available = ", ".join(sorted(set(known) | set(plain))) or "none"
    raise BootError(f"PEX_SCRIPT={script}: no such console script in this pex; available: {available}")


def run(kind: str, value: str, project: str = "") -> None:
    """Runs the target with the `__main__` and `sys.argv[0]` docs/runtime.md describes ("What
    `__main__` looks like"): what restarts by re-exec (`sys.executable` + `sys.argv`, or `-m` of
    `__main__.__spec__`) need to come back to this pex."""
    log(f"running {kind} {value}".rstrip(), 1)
    if kind == "call":
        # As under a pip console script: no spec and __package__ None, so Django's and werkzeug's
        # reloaders restart `sys.executable sys.argv` (the pex) rather than `-m` of the stub's zipimport
        # spec. No __file__: the stub is not a file a child could run, and multiprocessing's spawn
        # would run a __main__.__file__ again in every worker.
        _fresh_main()
        module_name, _, attrs = value.partition(":")
        __import__(module_name)
        target: object = sys.modules[module_name]
        for attr in attrs.split("."):
            target = getattr(target, attr)
        if not callable(target):
            raise TypeError(f"entry point {value} is not callable")
        sys.exit(target())
    if kind == "module":
        run_module(value, alter_argv=False)  # sys.argv[0] stays the pex path
    elif kind == "path":
        _run_script(value)
    else:
        interpreter(sys.argv[1:], project)


def run_module(name: str, alter_argv: bool) -> None:
    """Runs a module as __main__ the way `python -m` does (a real __main__ module in sys.modules, so
    pickle and multiprocessing work), in a fresh namespace rather than the stub's."""
    import runpy

    _fresh_main()
    run_as_main = getattr(runpy, "_run_module_as_main", None)  # what `python -m` calls; 3.9-3.13
    if run_as_main is None:  # pragma: no cover - a future Python without it
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    else:
        run_as_main(name, alter_argv)


def _fresh_main() -> dict[str, object]:
    """A clean __main__ (no spec, __package__ None, as for `python -c` or a script) for entry points,
    -c, stdin and the REPL: the stub's module, with its zipimport spec, stays out of the user's way."""
    import builtins

    main = type(sys)("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    return main.__dict__


def _run_script(path: str) -> None:
    """A wheel's plain script (PEX_SCRIPT), as its installed copy runs: `__main__` is the script file
    (`__file__`, no spec, `__package__` None), but sys.argv[0] stays the pex path, the file that was
    run, so that a restart by `sys.executable sys.argv` comes back to the pex rather than running the
    cache's copy of the script without the pex's sys.path."""
    with open(path, "rb") as file:
        _exec_source(file.read(), path, is_file=True)


def _run_path(path: str, args: Sequence[str]) -> None:
    import runpy

    sys.argv = [path, *args]
    runpy.run_path(path, run_name="__main__")


def _exec_source(source: str | bytes, filename: str, is_file: bool = False) -> None:
    """Runs `source` as a fresh `__main__`, with `__file__` the filename where it is a file."""
    namespace = _fresh_main()
    if is_file:
        namespace["__file__"] = filename
    # dont_inherit: not this module's `from __future__ import annotations`
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)


def interpreter(args: Sequence[str], project: str = "") -> None:
    """Like `python [-c CODE | -m MODULE | - | script] [args]`, with the pex's distributions importable.
    sys.path[0] is what the interpreter would put there (the working directory for -c, -m, stdin and
    the REPL, the script's directory for a script), or nothing under -I or -P (safe_path)."""

    if args and args[0].startswith("-c"):
        code, rest = (args[1], args[2:]) if args[0] == "-c" else (args[0][2:], args[1:])
        sys.argv = ["-c", *rest]
        _prepend_path("")
        _exec_source(code, "<string>")
    elif args and args[0].startswith("-m"):
        module, rest = (args[1], args[2:]) if args[0] == "-m" else (args[0][2:], args[1:])
        sys.argv = [module, *rest]  # replaced by the module's file, as python -m does
        _prepend_path(os.getcwd())
        run_module(module, alter_argv=True)
    elif args and args[0] != "-":
        _prepend_path(os.path.dirname(os.path.realpath(args[0])))
        _run_path(args[0], args[1:])
    elif args or not sys.stdin.isatty():
        sys.argv = ["-", *args[1:]] if args else [""]
        _prepend_path("")
        _exec_source(sys.stdin.read(), "<stdin>")
    else:
        _repl(project)


def _prepend_path(entry: str) -> None:
    if not safe_path():
        sys.path.insert(0, entry)


def _repl(project: str) -> None:
    import code

    sys.argv = [""]
    _prepend_path("")
    namespace = _fresh_main()
    try:
        import readline
        import rlcompleter

        readline.set_completer(rlcompleter.Completer(namespace).complete)
        readline.parse_and_bind("tab: complete")
    except ImportError:
        pass
    banner = (
        f"Python {sys.version} on {sys.platform}\nhatch-pex interpreter{f' for {project}' if project else ''}"
    )
    code.interact(banner=banner, local=namespace, exitmsg="")
