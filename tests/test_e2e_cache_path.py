"""The path to a cache root (issue 17, docs/security.md "The cache at start"): every component of it as
configured is checked, from `/` down, before anything under it is read, and only the path it resolves
to is used afterwards. A second user (uid 65534, through `setpriv`, when the suite runs as root) swaps
a symlink or renames a directory on the way to the victim's cache, or owns the root the victim's warm
record or code cache is in; the victim never runs what they planted.
"""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
from pathlib import Path

import helpers
import pytest
from test_e2e_runtime import installs, ok, with_env
from test_e2e_trust_build import (
    GENUINE,
    build_sdist_app,
    built_slots,
    forge,
    planted_wheel,
    runs,
    sdist_app,
)
from test_e2e_trust_runtime import ATTACKER, IMPORT_PURE, as_attacker, library, needs_root, python, shared_dir

__all__ = ["library", "python", "shared_dir"]  # the fixtures, used by name

# Started, it says so and waits for a line on stdin before it imports: the second user acts meanwhile.
LATE_IMPORT = "import sys; print('started', flush=True); sys.stdin.readline(); " + IMPORT_PURE
PLANTED_MODULE = "print('PWNED by uid 65534')\n__version__ = 'PWNED'\n"


def private_tmpdir(tmp_path: Path) -> tuple[Path, Path]:
    """(a TMPDIR of this test's own, the per-user fallback root the victim's starts use under it)."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    return tmpdir, tmpdir / f"hatch-pex-{os.getuid()}"


def site_keys(*roots: Path) -> set[str]:
    """The site directories the starts so far made, in any of `roots`."""
    return {p.name for root in roots if (root / "sites").is_dir() for p in (root / "sites").iterdir()}


def plant_sites(directory: Path, keys: set[str]) -> None:
    """As the second user: `directory` made like a cache root whose site directories hold a hp_pure of
    theirs."""
    for key in keys:
        package = directory / "sites" / key / "hp_pure"
        as_attacker("mkdir", "-p", package)
        as_attacker("sh", "-c", 'printf %s "$0" > "$1"', PLANTED_MODULE, package / "__init__.py")
    as_attacker("chmod", "-R", "go-w", directory)


def paused_start(library: Path, python: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    app = subprocess.Popen(
        [str(python), str(library), "-c", LATE_IMPORT], env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert app.stdout is not None
    assert app.stdout.readline() == "started\n", app.communicate(timeout=60)
    return app


def carry_on(app: subprocess.Popen[str]) -> tuple[str, str]:
    stdout, stderr = app.communicate("go\n", timeout=60)
    assert app.returncode == 0, (stdout, stderr)
    return stdout, stderr


# --------------------------------------------------------------------------------------------------
# What is on the way to the root
# --------------------------------------------------------------------------------------------------


def test_a_symlink_another_user_can_swap_is_not_followed(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path, shared_dir: Path
) -> None:
    """PEX_ROOT=/tmp/<a directory of the second user>/cache, a symlink of theirs to a directory of the
    victim. The checks of the target pass; once the victim's start is past them, the second user points
    the symlink at a cache of their own: the victim's late import must not reach it. The root is
    refused at the start (PEX_VERBOSE says why) and the per-user fallback used."""
    needs_root()
    victim = tmp_path / "victim-cache"
    victim.mkdir()
    theirs = shared_dir / "theirs"
    as_attacker("mkdir", "-m", "755", theirs)
    as_attacker("ln", "-s", victim, theirs / "cache")
    tmpdir, fallback = private_tmpdir(tmp_path)
    root = theirs / "cache"
    run_env = with_env(env, PEX_ROOT=root, TMPDIR=tmpdir, PEX_VERBOSE="1")
    ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))

    app = paused_start(library, python, run_env)
    planted = theirs / "planted"
    plant_sites(planted, site_keys(victim, fallback))
    as_attacker("ln", "-sfn", planted, root)
    stdout, stderr = carry_on(app)
    assert "PWNED" not in stdout + stderr and stdout == "2.0\n", stderr
    refused = f"cache {root} is not used: {theirs} is owned by uid {ATTACKER}, in {shared_dir}, above it,"
    assert refused in stderr and f"using {fallback}" in stderr, stderr


def test_a_default_root_under_a_directory_another_group_can_write_is_refused(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path, shared_dir: Path
) -> None:
    """XDG_CACHE_HOME is the victim's, but group-writable and its group one the victim is not in (65534,
    the second user's). A member renames the default root away while the victim's start runs and puts
    a symlink to a cache of theirs in its place: the victim's late import must not reach it, as the
    default root is refused at the start."""
    needs_root()
    xdg = shared_dir / "xdg"
    xdg.mkdir()
    os.chown(xdg, 0, ATTACKER)
    xdg.chmod(0o775)
    tmpdir, fallback = private_tmpdir(tmp_path)
    default_root = xdg / "hatch-pex"
    run_env = with_env(env, PEX_ROOT=None, XDG_CACHE_HOME=xdg, TMPDIR=tmpdir, PEX_VERBOSE="1")
    ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))

    app = paused_start(library, python, run_env)
    planted = shared_dir / "planted"
    plant_sites(planted, site_keys(default_root, fallback))
    if default_root.exists():
        as_attacker("mv", default_root, xdg / "moved")
    as_attacker("ln", "-s", planted, default_root)
    stdout, stderr = carry_on(app)
    assert "PWNED" not in stdout + stderr and stdout == "2.0\n", stderr
    refused = f"cache {default_root} is not used: {default_root} is missing, in {xdg}, above it, owned by uid 0 with mode 775 (gid {ATTACKER})"
    assert refused in stderr and f"using {fallback}" in stderr, stderr


@pytest.mark.parametrize("planted", ["warm record", "code cache"])
def test_nothing_is_read_from_a_refused_root(
    planted: str, library: Path, python: Path, env: dict[str, str], tmp_path: Path, shared_dir: Path
) -> None:
    """A root the second user owns, holding a warm record (or the runtime's code cache) that is the
    victim's own file, 0644, but says to run other code: copied from a genuine start, changed, then the
    root handed over. The start must not read it: the planted code would leave a marker file."""
    needs_root()
    root = shared_dir / "root"
    tmpdir, fallback = private_tmpdir(tmp_path)
    marker = tmp_path / "planted-code-ran"
    run_env = with_env(env, PEX_ROOT=root, TMPDIR=tmpdir, PEX_VERBOSE="1")
    ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env))
    mark = compile(f"open({str(marker)!r}, 'w').close()", "planted", "exec")
    if planted == "warm record":
        [path] = [p for p in (root / "pexes").rglob("*") if p.is_file() and p.suffix != ".lock"]
        record = marshal.loads(path.read_bytes())
        record["code"] = marshal.dumps((("_hatch_pex_boot.planted", mark), *marshal.loads(record["code"])))
    else:
        shutil.rmtree(root / "pexes")  # a cold start: it loads the runtime's code from the code cache
        [path] = (root / "code").iterdir()
        record = marshal.loads(path.read_bytes())
        record = {
            name: mark if name.startswith("_hatch_pex_boot.") else code for name, code in record.items()
        }
    path.write_bytes(marshal.dumps(record))
    path.chmod(0o644)
    assert path.stat().st_uid == os.getuid()
    os.chown(root, ATTACKER, ATTACKER)  # the root directory only: the planted file stays the victim's

    result = helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=run_env)
    assert not marker.exists(), f"the {planted} was read from the refused root:\n{helpers.describe(result)}"
    assert ok(result).stdout == "2.0\n"
    assert f"cache {root} is not used: {root} is owned by uid {ATTACKER}" in result.stderr, result.stderr
    assert f"using {fallback}" in result.stderr, result.stderr


def test_cache_prune_does_not_follow_a_symlink_another_user_placed(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path, shared_dir: Path
) -> None:
    """`cache prune` on PEX_ROOT=/tmp/<shared>/link, a symlink the second user made to a cache of the
    victim's: the root is refused, and nothing in the victim's cache is touched."""
    needs_root()
    victim = tmp_path / "victim-cache"
    ok(helpers.run_pex(library, "-c", IMPORT_PURE, python=python, env=with_env(env, PEX_ROOT=victim)))
    entries = installs(victim)
    assert entries
    link = shared_dir / "link"
    as_attacker("ln", "-s", victim, link)
    tools = with_env(env, PEX_ROOT=link, TMPDIR=tmp_path, PEX_TOOLS="1")
    pruned = ok(helpers.run_pex(library, "cache", "prune", "--older-than", "0", python=python, env=tools))
    assert (
        f"cache: {link} is not used: {link} is owned by uid {ATTACKER} (a symlink), in {shared_dir}"
        in pruned.stdout
    ), pruned.stdout
    assert installs(victim) == entries and list((victim / "pexes").rglob("*")), pruned.stdout


# --------------------------------------------------------------------------------------------------
# The build cache follows the same rule
# --------------------------------------------------------------------------------------------------


def test_build_cache_on_a_path_others_could_change_is_not_used(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path], shared_dir: Path
) -> None:
    """A build cache holding a forged slot (consistent: every check on the slot itself passes, as the
    control in test_e2e_trust_build.py shows), reached through a symlink in a directory anybody can
    write, or below a directory another group can write: the build does not use it."""
    needs_root()
    if "3.12" not in interpreters:
        pytest.skip("needs a Python 3.12 to build the sdist natively")
    python = interpreters["3.12"]
    project = sdist_app(tmp_path)
    cache_home = tmp_path / "cache-home"
    genuine_env = with_env(env, XDG_CACHE_HOME=cache_home)
    _, genuine = build_sdist_app(project, genuine_env)
    [slot] = built_slots(genuine_env)
    [wheel] = slot.glob("*.whl")
    forge(slot, planted_wheel(tmp_path / "planted", wheel.name))

    link = shared_dir / "cache-home"
    link.symlink_to(cache_home)
    group_writable = tmp_path / "group-writable"
    group_writable.mkdir()
    os.rename(cache_home, group_writable / "cache-home")
    cache_home.symlink_to(group_writable / "cache-home")  # tmp_path is private: this one is fine
    os.chown(group_writable, os.getuid(), ATTACKER)
    group_writable.chmod(0o775)
    used = {}
    for how, home in (
        ("symlink in a shared directory", link),
        ("group-writable", group_writable / "cache-home"),
    ):
        pex, inside = build_sdist_app(project, with_env(env, XDG_CACHE_HOME=home))
        used[how] = inside == genuine and runs(pex, env, python) == GENUINE
    assert used == {how: True for how in used}, "the forged slot was used"


# --------------------------------------------------------------------------------------------------
# The rule itself
# --------------------------------------------------------------------------------------------------


def test_the_path_rule(tmp_path: Path) -> None:
    """trust.trusted_root on real directories: symlinks of ours in directories nobody else can write
    are followed (".." in a target too) and the path returned has none left; a symlink in a sticky
    directory, or a loop, is refused; a group-writable directory is accepted only if its group is the
    user's own private one."""
    from hatch_pex.bootstrap import trust

    real = tmp_path / "real"
    (real / "root").mkdir(parents=True)
    (tmp_path / "link").symlink_to("real/../real")
    assert trust.trusted_root(str(tmp_path / "link" / "root")) == (str(real / "root"), None)
    assert trust.trusted_root(str(tmp_path / "link" / "later" / "x")) == (str(real / "later" / "x"), None)
    (tmp_path / "loop").symlink_to("loop")
    assert "more than 40 symlinks" in str(trust.trusted_root(str(tmp_path / "loop" / "x"))[1])

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "mine").mkdir()
    assert trust.trusted_root(str(shared / "mine")) == (str(shared / "mine"), None)
    (shared / "link").symlink_to(real)
    resolved, problem = trust.trusted_root(str(shared / "link" / "root"))
    assert (
        resolved is None
        and f"{shared}/link is owned by uid {os.getuid()} (a symlink), in {shared}" in str(problem)
    )

    group = tmp_path / "group"
    (group / "root").mkdir(parents=True)
    group.chmod(0o775)
    if not trust.own_group(os.stat(group).st_gid):
        pytest.skip(f"group {os.stat(group).st_gid} is not this user's private group here")
    assert trust.trusted_root(str(group / "root")) == (str(group / "root"), None)
    if os.getuid() == 0:
        os.chown(group, 0, ATTACKER)  # nogroup: the second user's primary group too
        assert not trust.own_group(ATTACKER)
        resolved, problem = trust.trusted_root(str(group / "root"))
        assert resolved is None and "above it, owned by uid 0 with mode 775 (gid 65534)" in str(problem)


def test_the_private_group_rule() -> None:
    """own_group: the primary group of this user only, with no other member or user."""
    import grp
    import pwd

    from hatch_pex.bootstrap import trust

    me = pwd.getpwuid(os.getuid())
    others = [u for u in pwd.getpwall() if u.pw_gid == me.pw_gid and u.pw_uid not in (me.pw_uid, 0)]
    members = [m for m in grp.getgrgid(me.pw_gid).gr_mem if m not in (me.pw_name, "root")]
    assert trust.own_group(me.pw_gid) is (not others and not members)
    shared = {u.pw_gid for u in pwd.getpwall() if u.pw_uid not in (me.pw_uid, 0)}
    assert not any(trust.own_group(gid) for gid in shared - {me.pw_gid})


def test_the_warm_paths_shortcut_agrees_with_the_rule(tmp_path: Path) -> None:
    """__init__.plainly_trusted (the warm start's one-lstat-per-directory test) accepts only roots the
    whole rule accepts unchanged, and says no to every root the rule refuses or resolves elsewhere."""
    import hatch_pex.bootstrap as boot
    from hatch_pex.bootstrap import trust

    (tmp_path / "plain" / "root" / "installs").mkdir(parents=True)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "open").mkdir(mode=0o777)
    (tmp_path / "open").chmod(0o777)
    (tmp_path / "sub" / "root" / "pexes").mkdir(parents=True)
    (tmp_path / "sub" / "root" / "pexes").chmod(0o777)
    (tmp_path / "sticky" / "root").mkdir(parents=True)
    (tmp_path / "sticky").chmod(0o1777)
    (tmp_path / "group").mkdir()
    (tmp_path / "group").chmod(0o775)
    cases = {
        "plain/root": True,
        "link/root": False,  # resolved elsewhere: the whole rule decides
        "open/root": False,
        "sub/root": False,
        "sticky/root": True,  # as /tmp: its owner only (this user) can rename root
        "group": False,  # whether the group is this user's own: the whole rule decides
        "missing/root": False,
    }
    for relative, plain in cases.items():
        root = str(tmp_path / relative)
        assert boot.plainly_trusted(root) is plain, relative
        if plain:
            assert trust.trusted_root(root, boot.SUBDIRECTORIES) == (root, None)
    assert not boot.plainly_trusted(str(tmp_path / "plain" / ".." / "plain" / "root"))  # not normalised
