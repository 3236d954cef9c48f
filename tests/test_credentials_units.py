"""Unit tests of credential handling: redaction, URL splitting, the private netrc file."""

from __future__ import annotations

import netrc
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hatch_pex import credentials
from hatch_pex.credentials import (
    CredentialsError,
    Login,
    child_environment,
    logins_by_host,
    netrc_text,
    provide_credentials,
    split_credentials,
)
from hatch_pex.redact import redact, strip_credentials
from hatch_pex.resolve import ResolveOptions

# -- redact ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:secret@host/simple", "https://****@host/simple"),
        ("https://user:se@cr@et@host/simple/", "https://****@host/simple/"),  # '@': pip's last '@'
        ("https://user:se/cr/et@host/simple", "https://****@host/simple"),  # '/': netloc ends early
        ("https://user:s@e/c@r/t@host:8080/simple", "https://****@host:8080/simple"),  # both
        ("https://user:s%40e%2Fcret@host/", "https://****@host/"),  # percent-encoded
        ("https://t0ken@host/simple", "https://****@host/simple"),  # token-only user-info
        ("https://t0k/en@pypi.example.com/simple", "https://****@pypi.example.com/simple"),
        ("https://user:se#cr?et@host", "https://****@host"),
        ("http://user:secret@127.0.0.1:8080", "http://****@127.0.0.1:8080"),
        ("'https://user:se/cret@host'", "'https://****@host'"),  # quoted
        ("(from https://user:se/cret@host/simple/x/)", "(from https://****@host/simple/x/)"),
        ("user:secret@host", "****@host"),  # no scheme
        ("see user:se/c@ret@host.example/x", "see ****@host.example/x"),
        ("--index-url=https://user:secret@host/", "--index-url=https://****@host/"),
    ],
)
def test_redact_removes_the_whole_userinfo(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_handles_several_urls_in_one_text() -> None:
    text = (
        "a=https://u:p@ss@h1/,b=http://v:q/r@h2:1/ and git+https://w:z@h3/x.git\n"
        "ERROR: 401 for http://x:y@h4/simple/pkg/"
    )
    assert redact(text) == (
        "a=https://****@h1/,b=http://****@h2:1/ and git+https://****@h3/x.git\n"
        "ERROR: 401 for http://****@h4/simple/pkg/"
    )


@pytest.mark.parametrize(
    "text",
    [
        "git+https://github.com/x/y@v1.0",
        "name @ https://host/x.whl",
        "git+https://github.com/x/y@v1.0#egg=y",
        "git+https://localhost/x/y@main",
        "git+file:///srv/repo@v1",
        "ERROR: Could not find a version that satisfies the requirement x (from versions: none)",
        "git@github.com:org/repo.git",
        "hatch-pex: Python 3.9 is left out of the file: pip could not resolve",
        "sha256:0123abcd https://host/x-1.0.tar.gz#sha256=0123abcd",
    ],
)
def test_redact_keeps_what_holds_no_credentials(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "password",
    [
        "Zq1@Wx2/Ec3",
        "Rv4/Tb5/Yn6@Um7@Io8",
        "Pa9%40Sd0%2FFg1",
        "Hj2:Kl3:Zx4",
        "Cv5#Bn6?Mq7@Wr8/Ty9",
        "@Qa1/Ws2@/",
    ],
)
def test_redact_never_leaves_a_fragment_of_the_password(password: str) -> None:
    pieces = [p for p in re.split(r"[@/#?%:]", password) if len(p) >= 3]
    for text in (
        f"https://user:{password}@pypi.example.com/simple/",
        f"Looking in indexes: http://user:{password}@127.0.0.1:4711/simple/ (x)",
        f"'https://{password}@pypi.example.com'",
        f"user:{password}@pypi.example.com/simple",
    ):
        redacted = redact(text)
        assert "****@" in redacted and ("pypi.example.com" in redacted or "127.0.0.1:4711" in redacted)
        for piece in pieces:
            assert piece not in redacted, (text, redacted)


@pytest.mark.parametrize(
    "password",
    [
        "Pq3 Rs4 Tu5",
        "Vw6\tXy7 Za8",
        "Bc9\nDe0\r\nFg1",
        "Hi2 J@k3 Lm4",
        "No5 Pq6/Rs7@Tu8",
        " Vw9 ",
        "Xy0%20Za1 Bc2",
    ],
)
def test_redact_removes_passwords_with_whitespace(password: str) -> None:
    """pip's reading: the network location ends at the first `/`, `?` or `#`, not at whitespace, and
    the user-info at its last `@`; whatever whitespace the password holds, no piece of it stays."""
    pieces = [p for p in re.split(r"[\s@/%:]", password) if len(p) >= 3]
    for text in (
        f"https://user:{password}@pypi.example.com/simple/",
        f"The URL http://user:{password}@127.0.0.1:4711/simple/ carries credentials\nnext line",
        f"'https://user:{password}@pypi.example.com'",
        f"index-url = https://user:{password}@pypi.example.com:8443 (from pyproject.toml)",
        f"a=https://user:{password}@h1.example/,b=https://v:{password}@h2.example/x",
    ):
        redacted = redact(text)
        assert "****@" in redacted, (text, redacted)
        for piece in pieces:
            assert piece not in redacted, (text, redacted)
    assert redact(f"https://user:{password}@host.example/simple") == "https://****@host.example/simple"


@pytest.mark.parametrize(
    "text",
    [
        "https://host.example:8080/simple failed; write to admin@example.com",
        "Looking in indexes: https://host.example/simple, https://other.example/simple\nsee me@example.com",
    ],
)
def test_redact_whitespace_rule_keeps_what_holds_no_credentials(text: str) -> None:
    assert redact(text) == text


def test_redact_url_quotes_a_configured_url_whole() -> None:
    from hatch_pex.redact import redact_url

    for url in (
        "https://user:Pq3 Rs4/Tu5@host.example/simple",
        "https://user:1234 5678/90@host.example:81/simple",
        "https://user:Vw6\tXy7@host.example/simple",
    ):
        redacted = redact_url(url)
        assert redacted.startswith("https://****@host.example") and "user" not in redacted, redacted
        for piece in ("Pq3", "Rs4", "Tu5", "1234", "5678", "Vw6", "Xy7"):
            assert piece not in redacted


def test_strip_credentials() -> None:
    assert (
        strip_credentials("https://u:p@ss@Host:81/simple/x.whl#sha256=1")
        == "https://Host:81/simple/x.whl#sha256=1"
    )
    assert strip_credentials("https://host/simple") == "https://host/simple"
    assert strip_credentials("/a/local/path") == "/a/local/path"


# -- splitting URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "clean", "login"),
    [
        ("https://user:secret@host/simple/", "https://host/simple/", Login("user", "secret")),
        ("https://user:se@cret@host:8443/simple", "https://host:8443/simple", Login("user", "se@cret")),
        ("https://us%40er:se%2Fc%3Aret@host/s", "https://host/s", Login("us@er", "se/c:ret")),
        ("https://user:a:b@host/", "https://host/", Login("user", "a:b")),  # the first ':' parts them
        ("https://t0ken@host/simple", "https://host/simple", Login("t0ken", None)),
        ("https://user:@host/", "https://host/", Login("user", "")),
        ("https://user:pa ss@host/simple", "https://host/simple", Login("user", "pa ss")),  # as written
        ("https://user:pa%20ss@host/simple", "https://host/simple", Login("user", "pa ss")),  # encoded
        ("https://host/simple", "https://host/simple", None),
        ("/srv/wheels", "/srv/wheels", None),
        ("git+https://github.com/x/y@v1.0", "git+https://github.com/x/y@v1.0", None),
    ],
)
def test_split_credentials_as_pip_reads_them(url: str, clean: str, login: Login | None) -> None:
    assert split_credentials(url) == (clean, login)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:se/cret@host.example/simple",
        "https://user:se@cr/et@host.example/simple",  # pip: host `cr`, the rest of it in the path
        "https://user:se#cret@host.example/simple",
        "https://t0k/en@host.example/simple",
        "https://user:se cr/et@host.example/simple",  # whitespace and `/`
        "https://user:1234 5678/cret@host.example/simple",
    ],
)
def test_a_password_pip_cannot_read_fails_without_showing_it(url: str) -> None:
    with pytest.raises(CredentialsError) as raised:
        split_credentials(url)
    message = str(raised.value)
    assert "cret" not in message and "et@" not in message and "en@" not in message, message
    assert "1234" not in message and "5678" not in message and "se cr" not in message, message
    assert "%2F" in message and "host.example" in message


def test_one_login_per_host() -> None:
    logins = logins_by_host(
        ["https://a:1@Host.example:1/x", "https://a:1@host.example:2/y", "https://b:2@other/", "/local"]
    )
    assert logins == {"host.example": Login("a", "1"), "other": Login("b", "2")}
    with pytest.raises(CredentialsError) as raised:
        logins_by_host(["https://a:first-secret@host.example/x", "https://a:other-secret@host.example:81/"])
    message = str(raised.value)
    assert "host.example" in message and "one login per host" in message
    assert "first-secret" not in message and "other-secret" not in message
    with pytest.raises(CredentialsError) as raised:
        logins_by_host(["https://a:first secret@host.example/x", "https://a:other\tsecret@host.example/"])
    message = str(raised.value)
    assert "first" not in message and "other" not in message and "secret" not in message, message


def test_resolve_options_pass_no_credentials_on() -> None:
    options = ResolveOptions(
        index_url="https://u:s3cret@idx.example/simple/",
        extra_index_urls=["https://v:0ther@extra.example/simple/"],
        find_links=["https://w:l1nks@links.example/wheels/", "/srv/wheels"],
    )
    for arguments in (options.pip_arguments(), options.uv_arguments()):
        text = " ".join(arguments)
        assert "s3cret" not in text and "0ther" not in text and "l1nks" not in text and "u:" not in text
        assert "https://idx.example/simple/" in arguments and "/srv/wheels" in arguments


# -- the netrc file --------------------------------------------------------------------------------


@pytest.fixture
def no_user_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NETRC", raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setattr(credentials.tempfile, "tempdir", str(tmp_path))
    return tmp_path


MEMFD = hasattr(os, "memfd_create") and os.path.isdir(f"/proc/{os.getpid()}/fd")
NEEDS_MEMFD = pytest.mark.skipif(not MEMFD, reason="no memfd here")
STORAGES = [pytest.param("memory", marks=NEEDS_MEMFD), "file"]


def without_memory_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a platform without memfd: the netrc goes to a private temporary directory."""
    monkeypatch.setattr(credentials, "memory_netrc", lambda texts: None, raising=False)


def is_memory_file(path: str) -> bool:
    """Whether `path` is a live /proc/<pid>/fd/<n> link to one of our memory files."""
    try:
        return re.fullmatch(r"/proc/\d+/fd/\d+", path) is not None and os.readlink(path).startswith(
            "/memfd:hatch-pex-netrc"
        )
    except OSError:
        return False


@pytest.mark.parametrize("storage", STORAGES)
def test_netrc_is_private_readable_and_removed_afterwards(
    no_user_netrc: Path, monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    if storage == "file":
        without_memory_files(monkeypatch)
    urls = ["https://user:se@cret%2Fx@host.example/simple", "https://host.example/extra", "/srv/wheels"]
    with provide_credentials(urls) as additions:
        path = Path(additions["NETRC"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        if storage == "memory":  # nothing on disk at all
            assert is_memory_file(str(path)), path
            assert sorted(no_user_netrc.iterdir()) == [no_user_netrc / "home"]
        else:
            assert path.parent.parent == no_user_netrc
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert netrc.netrc(str(path)).authenticators("host.example") == ("user", "", "se@cret/x")
        assert child_environment()["NETRC"] == str(path)
        with provide_credentials(urls) as again:  # inside: the same file
            assert again == additions
    assert not is_memory_file(str(path))
    assert sorted(no_user_netrc.iterdir()) == [no_user_netrc / "home"]
    assert child_environment().get("NETRC") == os.environ.get("NETRC")


@NEEDS_MEMFD
def test_memory_netrc_is_read_by_pip_in_another_process(no_user_netrc: Path) -> None:
    """pip (requests' netrc reader) in a process of its own opens the memory file by its path."""
    read = "from pip._vendor.requests.utils import get_netrc_auth as a; print(a('https://host.example/x'))"
    with provide_credentials(["https://user:pass%20word@host.example/simple"]) as additions:
        assert is_memory_file(additions["NETRC"]), additions
        result = subprocess.run(
            [sys.executable, "-c", read], env=child_environment(), capture_output=True, text=True, check=True
        )
    assert result.stdout.strip() == "('user', 'pass word')", result


def test_no_credentials_no_file(no_user_netrc: Path) -> None:
    with provide_credentials(["https://host/simple", "/srv/wheels"]) as additions:
        assert additions == {}
        assert "NETRC" not in child_environment()
    assert list(no_user_netrc.iterdir()) == [no_user_netrc / "home"]


@pytest.mark.parametrize("storage", STORAGES)
def test_netrc_removed_when_the_build_fails(
    no_user_netrc: Path, monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    if storage == "file":
        without_memory_files(monkeypatch)
    with pytest.raises(RuntimeError), provide_credentials(["https://u:p@h/"]) as additions:
        raise RuntimeError
    assert not is_memory_file(additions["NETRC"])
    assert sorted(no_user_netrc.iterdir()) == [no_user_netrc / "home"]


# A build holding credentials, in a process of its own: it says where its netrc is, then waits. Its
# SIGINT does what an interactive build's does (KeyboardInterrupt) even when the tests were started in
# the background by a shell without job control, which leaves SIGINT ignored in every child (the build
# then rightly keeps ignoring it, and the test would wait in vain).
_HOLDER = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from hatch_pex import credentials
    if sys.argv[1] == "file":
        credentials.memory_netrc = lambda texts: None
    with credentials.provide_credentials(["https://user:Hq5Jw7Kz@host.example/simple"]) as additions:
        print(additions["NETRC"], flush=True)
        time.sleep(120)
    """
)


@pytest.mark.parametrize(
    ("storage", "ending"),
    [
        ("file", signal.SIGTERM),
        ("file", signal.SIGINT),
        ("file", signal.SIGHUP),
        pytest.param("memory", signal.SIGTERM, marks=NEEDS_MEMFD),
        pytest.param("memory", signal.SIGKILL, marks=NEEDS_MEMFD),
    ],
)
def test_netrc_does_not_outlive_a_build_ended_by_a_signal(
    tmp_path: Path, storage: str, ending: signal.Signals
) -> None:
    """The signal ends the process as it would have (its exit status), and no file holds the
    password afterwards: removed on SIGTERM, SIGINT, SIGHUP; never written with memfd (SIGKILL)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    root = str(Path(credentials.__file__).parents[1])
    env = {**os.environ, "TMPDIR": str(scratch), "HOME": str(tmp_path), "PYTHONPATH": root}
    env.pop("NETRC", None)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, storage], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        path = holder.stdout.readline().strip()
        assert "Hq5Jw7Kz" in Path(path).read_text()
        holder.send_signal(ending)
        assert holder.wait(timeout=30) == -ending
    finally:
        holder.kill()
        holder.wait()
    assert not Path(path).exists()
    assert [p for p in scratch.rglob("*") if p.is_file() and b"Hq5Jw7Kz" in p.read_bytes()] == []
    assert list(scratch.iterdir()) == []


def test_signal_handlers_chain_to_the_previous_ones_and_are_restored() -> None:
    from hatch_pex.credentials import cleaned_up_on_signals

    calls: list[str] = []

    def earlier(number: int, frame: object) -> None:
        calls.append(f"earlier {number}")

    before_term = signal.signal(signal.SIGTERM, earlier)
    before_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with cleaned_up_on_signals(lambda: calls.append("cleanup")):
            os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler before the next line
            os.kill(os.getpid(), signal.SIGHUP)  # ignored before: still ignored, after the cleanup
            assert calls == ["cleanup", f"earlier {int(signal.SIGTERM)}", "cleanup"]
        assert signal.getsignal(signal.SIGTERM) is earlier
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        with pytest.raises(KeyboardInterrupt), cleaned_up_on_signals(lambda: calls.append("again")):
            signal.raise_signal(signal.SIGINT)  # Python's own handler runs after ours
        assert calls[-1] == "again"
    finally:
        signal.signal(signal.SIGTERM, before_term)
        signal.signal(signal.SIGHUP, before_hup)


def test_a_work_directory_removed_by_a_signal_is_not_made_again() -> None:
    """A resolution thread whose pip was ended by the same signal may still ask for a directory
    under the work directory after the signal removed it: it gets an error, the work directory stays
    gone (os.makedirs would have brought it back, with whatever the thread then wrote)."""
    from hatch_pex.credentials import scratch_directory, work_subdirectory

    before_term = signal.signal(signal.SIGTERM, lambda number, frame: None)
    try:
        with scratch_directory("hatch-pex-test-") as work_dir:
            first = work_subdirectory(work_dir, "platform-0")
            assert work_subdirectory(work_dir, "platform-0") == first  # made once, then reused
            assert stat.S_IMODE(os.stat(first).st_mode) & 0o077 == 0
            os.kill(os.getpid(), signal.SIGTERM)  # the cleanup runs, then the earlier handler
            assert not os.path.exists(work_dir)
            with pytest.raises(FileNotFoundError):
                work_subdirectory(work_dir, "platform-1")
            assert not os.path.exists(work_dir)
    finally:
        signal.signal(signal.SIGTERM, before_term)


@pytest.mark.parametrize("named", [True, False])
def test_user_netrc_comes_first_and_ours_wins(
    no_user_netrc: Path, monkeypatch: pytest.MonkeyPatch, named: bool
) -> None:
    user_file = no_user_netrc / "my-netrc" if named else no_user_netrc / "home" / ".netrc"
    user_file.write_text(
        "machine mine.example login me password mine\n"
        "machine host.example login old password stale\n"
        "macdef init\n  echo hi"  # a macro running to the end of the file, no newline
    )
    if named:
        monkeypatch.setenv("NETRC", str(user_file))
    with provide_credentials(["https://user:new@host.example/simple"]) as additions:
        written = Path(additions["NETRC"])
        text = written.read_text()
        assert text.startswith(user_file.read_text())
        parsed = netrc.netrc(str(written))
        assert parsed.authenticators("mine.example") == ("me", "", "mine")
        assert parsed.authenticators("host.example") == ("user", "", "new")
    assert user_file.exists()  # the user's file is never touched


def test_unparsable_user_netrc_is_left_out(no_user_netrc: Path) -> None:
    (no_user_netrc / "home" / ".netrc").write_text("machine broken login\n")
    with provide_credentials(["https://user:new@host.example/simple"]) as additions:
        parsed = netrc.netrc(additions["NETRC"])
        assert parsed.authenticators("host.example") == ("user", "", "new")


@pytest.mark.parametrize(
    ("login", "line"),
    [
        (Login("user", "plain@/:#x"), "  password plain@/:#x"),
        (Login("user", "has space"), '  password "has space"'),
        (Login("user", 'back\\slash"quote'), '  password "back\\\\slash\\"quote"'),
        (Login("t0ken", None), '  password ""'),
    ],
)
def test_netrc_quotes_where_needed(login: Login, line: str, tmp_path: Path) -> None:
    text = netrc_text({"host.example": login})
    assert line in text.splitlines()
    path = tmp_path / "netrc"
    path.write_text(text)
    if sys.version_info >= (3, 11):  # older readers know no quotes
        assert netrc.netrc(str(path)).authenticators("host.example") == (login.user, "", login.password or "")
