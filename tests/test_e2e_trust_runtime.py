"""End to end: what a .pex trusts at start (docs/security.md), with real files, processes and users.

A cache another user owns or could write, files rewritten behind the runtime's back, planted symlinks,
hostile wheels from the loopback index (modes, names with line separators, paths escaping the venv),
cache prune beside running apps and cold starts, the interpreter probe and the re-exec. The second user
is uid 65534 (nobody): the tests act as it through `setpriv` when they run as root, and say so and skip
those parts when they do not.
"""

from __future__ import annotations

import marshal
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import helpers
import pytest
from _make_test_pex import make_wheel
from test_e2e_runtime import ONE_VERSION, installs, ok, sha_of, shared_build, start_failure, with_env

ATTACKER = 65534  # nobody
IMPORT_PURE = "import hp_pure; print(hp_pure.__version__)"


def needs_root() -> None:
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("acting as a second user needs root and setpriv: this part does not run here")


def as_attacker(*command: str | Path) -> None:
    """Runs `command` as uid/gid 65534, no supplementary groups."""
    argv = [
        "setpriv",
        f"--reuid={ATTACKER}",
        f"--regid={ATTACKER}",
        "--clear-groups",
        "--",
        *map(str, command),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, helpers.describe(done)


def hand_over(path: Path) -> None:
    """Everything under `path` now belongs to the attacker, as if the attacker had made it."""
    for directory, names, files in os.walk(path):
        os.lchown(directory, ATTACKER, ATTACKER)
        for name in names + files:
            os.lchown(os.path.join(directory, name), ATTACKER, ATTACKER)


def rewrite_same_size(path: Path, code: str) -> bytes:
    """The attacker's version of a module: `code`, padded with a comment to the original size, with the
    original modification time put back. Returns the original bytes."""
    original = path.read_bytes()
    payload = (code + "\n#").encode()
    assert len(payload) <= len(original), (path, len(original))
    crafted = Path(tempfile.mkdtemp()) / "crafted.py"  # where the attacker can read it
    crafted.write_bytes(payload + b"x" * (len(original) - len(payload)))
    crafted.parent.chmod(0o755)
    crafted.chmod(0o644)
    st = path.stat()
    if path.stat().st_uid == ATTACKER:
        as_attacker("cp", crafted, path)
        as_attacker("touch", "-d", f"@{st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d}", path)
    else:
        shutil.copyfile(crafted, path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    shutil.rmtree(crafted.parent)
    assert path.stat().st_size == len(original)
    return original


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory like /tmp (mode 1777) that the attacker can reach: tmp_path's parents are 0700."""
    directory = Path(tempfile.mkdtemp(prefix="hatch-pex-shared-", dir="/tmp"))
    directory.chmod(0o1777)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """no-scripts-app for one Python version (shared with test_e2e_runtime.py: same build)."""
    [pex] = shared_build(tmp_path_factory, index_url, uv_cache, "library", "no-scripts-app", ONE_VERSION)
    return pex


@pytest.fixture(scope="module")
def python(interpreters: dict[str, Path]) -> Path:
    return interpreters[f"{sys.version_info[0]}.{sys.version_info[1]}"]


# --------------------------------------------------------------------------------------------------
# Hostile wheels, served by a loopback index of their own
# --------------------------------------------------------------------------------------------------

# Names str.splitlines breaks at; a manifest read with it lost them and was rebuilt on every start.
ODD_NAMES = [
    "line\u2028sep.txt",
    "para\u2029sep.txt",
    "next\x85line.txt",
    "group\x1dsep.txt",
    "ff\x0cfeed.txt",
]


def _hostile_wheels(directory: Path) -> None:
    files = {"hp_modes/__init__.py": "VALUE = 'modes'\n", "hp_modes/tool.sh": "#!/bin/sh\necho tool\n"}
    files.update({f"hp_modes/data/{name}": f"{name!r}\n" for name in ODD_NAMES})
    modes = {"hp_modes/__init__.py": 0o666, "hp_modes/tool.sh": 0o777}
    modes.update({f"hp_modes/data/{name}": 0o666 for name in ODD_NAMES})
    make_wheel(directory, "hp_modes", "1.0", files, modes=modes)
    make_wheel(
        directory,
        "hp_escape_data",
        "1.0",
        {"hp_escape_data.py": "", "hp_escape_data-1.0.data/data/a/../../../escaped.txt": "outside\n"},
    )
    make_wheel(
        directory,
        "hp_escape_script",
        "1.0",
        {"hp_escape_script.py": "def main():\n    pass\n"},
        entry_points="[console_scripts]\n../../escaped-script = hp_escape_script:main\n",
    )


@pytest.fixture(scope="module")
def hostile_index(
    tmp_path_factory: pytest.TempPathFactory, test_index: helpers.TestIndex
) -> Iterator[helpers.TestIndex]:
    base = tmp_path_factory.mktemp("hostile-index")
    own = base / "wheels"
    own.mkdir()
    _hostile_wheels(own)
    with helpers.second_index(own, test_index, base) as index:
        yield index


def _hostile_pex(
    tmp_path_factory: pytest.TempPathFactory, index: helpers.TestIndex, uv_cache: Path, project: str
) -> Path:
    table = f'{ONE_VERSION}\nindex-url = "{index.url}"\nrequirements = ["{project}"]'
    [pex] = shared_build(tmp_path_factory, index.url, uv_cache, project, "no-scripts-app", table)
    return pex


@pytest.fixture(scope="module")
def modes_pex(
    tmp_path_factory: pytest.TempPathFactory, hostile_index: helpers.TestIndex, uv_cache: Path
) -> Path:
    return _hostile_pex(tmp_path_factory, hostile_index, uv_cache, "hp-modes")


def test_modes_follow_the_umask_never_the_wheel(
    modes_pex: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A wheel whose members are 0666 and 0777: unpacked 0644/0755 under umask 022 and 0600/0700 under
    umask 077, directories alike: nothing in the cache is writable by group or others."""
    sha = sha_of(modes_pex, "hp_modes")
    for umask, file_mode, exec_mode in ((0o022, 0o644, 0o755), (0o002, 0o644, 0o755), (0o077, 0o600, 0o700)):
        root = tmp_path / f"root-{umask:03o}"
        code = "import hp_modes; print(hp_modes.VALUE)"
        result = subprocess.run(
            [str(python), str(modes_pex), "-c", code],
            env=with_env(env, PEX_ROOT=root),
            capture_output=True, text=True, check=False, preexec_fn=lambda umask=umask: os.umask(umask),
        )  # fmt: skip
        assert ok(result).stdout == "modes\n"
        entry = root / "installs" / sha
        assert stat.S_IMODE((entry / "hp_modes" / "__init__.py").stat().st_mode) == file_mode
        assert stat.S_IMODE((entry / "hp_modes" / "tool.sh").stat().st_mode) == exec_mode
        for name in ODD_NAMES:
            assert stat.S_IMODE((entry / "hp_modes" / "data" / name).stat().st_mode) == file_mode
        for directory, _, files in os.walk(root):
            for path in [directory, *(os.path.join(directory, f) for f in files)]:
                st = os.lstat(path)
                if not stat.S_ISLNK(st.st_mode):
                    assert not st.st_mode & 0o022, (oct(umask), path, oct(st.st_mode))


def test_names_with_line_separators_keep_their_entry(
    modes_pex: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Data files named with U+2028, U+2029, NEL, a group separator and a form feed: the entry's manifest
    keeps them, so a cold start that finds the entry (another pex, or a lost record) reuses it instead
    of throwing it away and extracting it again, every time."""
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="1")
    listing = "sorted(os.listdir(d)) == sorted(names), [open(os.path.join(d, n)).read() for n in names]"
    code = f"import os, hp_modes; names = {ODD_NAMES!r}; d = os.path.join(os.path.dirname(hp_modes.__file__), 'data'); print({listing})"
    expected = f"True {[repr(n) + chr(10) for n in ODD_NAMES]}\n"
    entry = root / "installs" / sha_of(modes_pex, "hp_modes")
    assert ok(helpers.run_pex(modes_pex, "-c", code, python=python, env=run_env)).stdout == expected
    warm = ok(helpers.run_pex(modes_pex, "-c", code, python=python, env=run_env))
    assert warm.stdout == expected and "warm start" in warm.stderr, warm.stderr
    shutil.rmtree(root / "pexes")
    cold = ok(helpers.run_pex(modes_pex, "-c", code, python=python, env=run_env))
    assert cold.stdout == expected
    assert f"reusing {entry}" in cold.stderr and "rebuilding" not in cold.stderr, cold.stderr


# --------------------------------------------------------------------------------------------------
# The venv tool writes inside its directory only
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("project", "refused"),
    [
        ("hp-escape-data", "wheel member 'a/../../../escaped.txt' escapes"),
        ("hp-escape-script", "console script name '../../escaped-script' in "),
    ],
)
def test_venv_refuses_paths_that_escape(
    project: str,
    refused: str,
    tmp_path_factory: pytest.TempPathFactory,
    hostile_index: helpers.TestIndex,
    uv_cache: Path,
    python: Path,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    pex = _hostile_pex(tmp_path_factory, hostile_index, uv_cache, project)
    dest = tmp_path / "deep" / "down" / "venv"
    tools = with_env(env, PEX_ROOT=tmp_path / "root", PEX_TOOLS="1")
    stderr = start_failure(helpers.run_pex(pex, "venv", str(dest), python=python, env=tools))
    assert refused in stderr, stderr
    written = [p for p in tmp_path.rglob("escaped*")]
    assert written == [], written


def test_venv_force_replaces_only_a_venv(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    tools = with_env(env, PEX_ROOT=tmp_path / "root", PEX_TOOLS="1")
    precious = tmp_path / "project"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me\n")
    stderr = start_failure(
        helpers.run_pex(library, "venv", "--force", str(precious), python=python, env=tools)
    )
    assert f"{precious} is not a virtualenv (no pyvenv.cfg): --force only replaces a virtualenv" in stderr
    assert (precious / "notes.txt").read_text() == "keep me\n"
    venv = tmp_path / "venv"
    ok(helpers.run_pex(library, "venv", str(venv), python=python, env=tools))
    (venv / "stale.txt").write_text("from before\n")
    ok(helpers.run_pex(library, "venv", "--force", str(venv), python=python, env=tools))
    assert not (venv / "stale.txt").exists()
    assert ok(helpers.run(
        [str(venv / "bin" / "python"), "-c", IMPORT_PURE], env=env
    )).stdout == "2.0\n"  # fmt: skip


# --------------------------------------------------------------------------------------------------
# A cache someone else could write is never read
# --------------------------------------------------------------------------------------------------


def test_a_root_another_user_owns_is_never_read(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path, shared_dir: Path
) -> None:
    """A PEX_ROOT in a shared directory that belongs to another user (made by the attacker before the
    victim's first start; here: made by a start, then handed over). The attacker rewrites a module of
    an entry (same size, same mtime), plants the runtime's code cache, and symlinks every probe name a
    start could pick at a file of the victim's: the victim's start reads none of it, writes nothing
    there, and runs from its private fallback, saying why under PEX_VERBOSE."""
    needs_root()
    root = shared_dir / "root"
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    fallback = tmpdir / f"hatch-pex-{os.getuid()}"
    run_env = with_env(env, PEX_ROOT=root, TMPDIR=tmpdir, PEX_VERBOSE="1")
    ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
    hand_over(root)

    # warm path: a rewritten module in an entry
    module = root / "installs" / sha_of(library, "hp_pure") / "hp_pure" / "__init__.py"
    rewrite_same_size(module, "print('PWNED by uid 65534')")
    result = ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
    assert "PWNED" not in result.stdout + result.stderr and result.stdout == "2.0\n", result.stderr
    assert f"cache {root} is not used: {root} is owned by uid {ATTACKER}" in result.stderr, result.stderr
    assert f"using {fallback}" in result.stderr, result.stderr

    # cold path: the runtime's compiled code, planted; probe names symlinked at a file of the victim's
    shutil.rmtree(fallback)
    as_attacker("rm", "-rf", root / "pexes")
    [code_file] = (root / "code").iterdir()
    codes = marshal.loads(code_file.read_bytes())
    evil = compile("import sys; sys.stdout.write('PWNED-CODE by uid 65534\\n')", "evil", "exec")
    crafted = shared_dir / "crafted"
    crafted.write_bytes(
        marshal.dumps({k: (evil if k.startswith("_hatch_pex_boot.") else v) for k, v in codes.items()})
    )
    crafted.chmod(0o644)
    as_attacker("cp", crafted, code_file)
    precious = shared_dir / "precious.txt"
    precious.write_text("the victim's data\n")
    last_pid = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    for pid in range(last_pid + 1, last_pid + 3000):
        link = root / "tmp" / f".probe-{pid}"
        link.symlink_to(precious)
        os.lchown(link, ATTACKER, ATTACKER)
    result = ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
    assert "PWNED" not in result.stdout + result.stderr and result.stdout == "2.0\n", result.stderr
    assert precious.read_text() == "the victim's data\n"
    assert f"cache {root} is not used" in result.stderr and f"using {fallback}" in result.stderr
    owners = {os.lstat(os.path.join(d, n)).st_uid for d, ds, fs in os.walk(root) for n in ds + fs}
    assert owners == {ATTACKER}, "the victim wrote into the attacker's root"


def test_an_entry_another_user_could_write_is_rebuilt(
    library: Path, python: Path, env: dict[str, str], shared_dir: Path
) -> None:
    """The root is the victim's, but one entry was handed to another user (or made group-writable), who
    rewrote a module in it keeping size and mtime: the start finds it, says why and re-extracts."""
    needs_root()
    root = shared_dir / "root"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="1")
    ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
    entry = root / "installs" / sha_of(library, "hp_pure")
    module = entry / "hp_pure" / "__init__.py"
    hand_over(entry)
    original = rewrite_same_size(module, "print('PWNED by uid 65534')")
    result = ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
    assert "PWNED" not in result.stdout and result.stdout == "2.0\n", result.stderr
    assert f"{entry} could be written by another user; rebuilding" in result.stderr, result.stderr
    assert module.read_bytes() == original and module.stat().st_uid == 0

    (entry / "hp_pure").chmod(0o775)  # group-writable: the same
    result = ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
    assert "hp_pure/ could be written by another user; rebuilding" in result.stderr, result.stderr
    assert stat.S_IMODE((entry / "hp_pure").stat().st_mode) == 0o755


def test_a_file_rewritten_with_the_same_size_is_found(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Size alone would pass a rewritten file: the warm start also compares the modification time the
    extraction recorded, and the cold start the manifest's."""
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="1")
    ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
    module = root / "installs" / sha_of(library, "hp_pure") / "hp_pure" / "__init__.py"
    original = module.read_bytes()
    for where in ("warm", "cold"):
        if where == "cold":
            shutil.rmtree(root / "pexes")
        module.write_bytes(b"print('CHANGED')\n#".ljust(len(original), b"x"))
        result = ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
        assert result.stdout == "2.0\n", (where, result.stderr)
        assert "hp_pure/__init__.py was changed since it was extracted" in result.stderr, (
            where,
            result.stderr,
        )
        assert module.read_bytes() == original


def test_a_root_of_ours_others_could_write_is_restricted(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A root of the user's own that the group could write (made under a umask of 002 by an earlier
    version) is not read as is: the next cold start takes the group's write bit away, checks the rest
    item by item and goes on using it; the start after is warm."""
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, TMPDIR=tmp_path, PEX_VERBOSE="1")
    where = "import hp_pure; print(hp_pure.__file__)"
    ok(helpers.run_pex(library, "-c", where, python=python, env=run_env))
    for path in (root, root / "installs", root / "sites"):
        path.chmod(0o775)
    result = ok(helpers.run_pex(library, "-c", where, python=python, env=run_env))
    assert result.stdout.startswith(f"{root}/sites/"), result.stdout
    assert "warm start" not in result.stderr, result.stderr  # nothing was read from it as it was
    taken = ", ".join(str(path) for path in (root, root / "installs", root / "sites"))
    assert f"cache {root}: group and other write taken off {taken}; its content is checked" in result.stderr
    for path in (root, root / "installs", root / "sites"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, path
    warm = ok(helpers.run_pex(library, "-c", where, python=python, env=run_env))
    assert warm.stdout == result.stdout and "warm start" in warm.stderr, warm.stderr


# --------------------------------------------------------------------------------------------------
# Prune
# --------------------------------------------------------------------------------------------------


def test_prune_leaves_a_running_app_alone(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """An app started weeks ago (its record's last use is old) still runs: prune keeps its record and
    entries while it runs, and the app imports from them afterwards; once it ends, prune takes them."""
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root)
    tools = with_env(run_env, PEX_TOOLS="1")
    ok(helpers.run_pex(library, "-c", "pass", python=python, env=run_env))  # cold: the next is warm
    late_import = "import sys; print('started', flush=True); sys.stdin.readline(); " + IMPORT_PURE
    for start in ("warm", "cold"):
        if start == "cold":
            shutil.rmtree(root / "pexes")
        app = subprocess.Popen(
            [str(python), str(library), "-c", late_import], env=run_env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert app.stdout is not None and app.stdin is not None
        assert app.stdout.readline() == "started\n"
        [record] = [p for p in (root / "pexes").rglob("*") if p.is_file() and p.suffix != ".lock"]
        old = time.time() - 60 * 86400
        os.utime(record, (old, old))
        pruned = ok(helpers.run_pex(library, "cache", "prune", python=python, env=tools)).stdout
        assert "removed 0 pex records" in pruned and "(1 records held by running pex files)" in pruned, pruned
        assert installs(root) == set(helpers.pex_info(library)["distributions"].values())  # type: ignore[union-attr]
        stdout, stderr = app.communicate("go\n", timeout=60)
        assert app.returncode == 0 and stdout == "2.0\n", (start, stderr)
    pruned = ok(helpers.run_pex(library, "cache", "prune", python=python, env=tools)).stdout
    assert "removed 1 pex records" in pruned and installs(root) == set(), pruned


def test_prune_waits_for_a_cold_start(
    tmp_path_factory: pytest.TempPathFactory,
    index_url: str,
    uv_cache: Path,
    python: Path,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """A prune started while a cold start extracts (its entries not yet in any record) waits until that
    start has written and holds its record, then leaves its entries alone."""
    from test_e2e_runtime import _add_bulk

    [bulky] = shared_build(
        tmp_path_factory, index_url, uv_cache, "bulky", "no-scripts-app", ONE_VERSION, prepare=_add_bulk
    )
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root)
    code = "import sys; sys.stdin.readline(); import no_scripts_app.bulk.m2999 as m, hp_pure; print(m.VALUE)"
    app = subprocess.Popen(
        [str(python), str(bulky), "-c", code], env=run_env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list((root / "tmp").glob("*.*.*")) and time.monotonic() < deadline:
        time.sleep(0.002)
    assert app.poll() is None, "the cold start ended before it could be caught extracting"
    pruned = ok(
        helpers.run_pex(
            bulky, "cache", "prune", "--older-than", "0", python=python, env=with_env(run_env, PEX_TOOLS="1")
        )
    ).stdout
    assert "removed 0 pex records" in pruned and "(1 records held by running pex files)" in pruned, pruned
    stdout, stderr = app.communicate("go\n", timeout=120)
    assert app.returncode == 0 and stdout == "2999\n", stderr


# --------------------------------------------------------------------------------------------------
# The interpreter probe and the re-exec
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def needs312(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    table = 'interpreter-constraints = ">=3.12"'
    [pex] = shared_build(tmp_path_factory, index_url, uv_cache, "needs312", "no-scripts-app", table)
    return pex


def _older_and_newer(interpreters: dict[str, Path]) -> tuple[Path, Path]:
    older = [p for v, p in interpreters.items() if v in ("3.9", "3.10", "3.11")]
    newer = [p for v, p in interpreters.items() if v in ("3.12", "3.13")]
    if not older or not newer:
        pytest.skip("needs a CPython below 3.12 and one of 3.12+")
    return older[-1], newer[0]


def test_probe_never_imports_from_the_working_directory(
    needs312: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    """Started from a directory holding a json.py, under an interpreter that does not fit: probing the
    candidates (with -E -s -S, and "" taken off sys.path) never runs that json.py."""
    older, newer = _older_and_newer(interpreters)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / newer.name).symlink_to(newer)
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "json-ran"
    (work / "json.py").write_text(f"open({str(marker)!r}, 'w').close()\nfrom _json import *\n")
    run_env = with_env(env, PEX_ROOT=tmp_path / "root", PATH=bin_dir, PEX_VERBOSE="1")
    code = "import sys; print(sys.version_info[:2])"
    result = helpers.run_pex(needs312, "-c", code, python=older, env=run_env, cwd=work)
    assert not marker.exists(), "the probe imported json.py from the working directory"
    assert "re-executing under" in ok(result).stderr, result.stderr


def test_reexec_keeps_the_interpreter_options(
    needs312: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    """`python -I -B -X utf8 -X dev app.pex` under an interpreter that does not fit: the interpreter the
    pex moves to runs with the same isolation options."""
    older, newer = _older_and_newer(interpreters)
    code = "import sys; print(sys.flags.isolated, sys.flags.dont_write_bytecode, sorted(sys._xoptions))"
    run_env = with_env(env, PEX_ROOT=tmp_path / "root", PEX_PYTHON=newer, PEX_VERBOSE="1")
    for start in ("cold", "warm"):
        result = ok(helpers.run(
            [str(older), "-I", "-B", "-X", "utf8", "-X", "dev", str(needs312), "-c", code], env=run_env
        ))  # fmt: skip
        assert "re-executing under" in result.stderr, (start, result.stderr)
        assert result.stdout == "1 1 ['dev', 'utf8']\n", (start, result.stdout)
