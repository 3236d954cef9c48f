"""Extraction beside the application (docs/runtime.md, "Start sequence"): a cold start that must unpack
wheels runs the application as soon as every wheel's sha256 matched, every member's path was checked
and the site directory is made, while a second process unpacks the wheels. An import waits only for
the wheel that holds the name it imports, and, for a wheel with compiled code, for the wheels it
requires (required_names); `importlib.metadata` waits for the distribution it is asked about, or for
all of them when it lists them.

The extractor is a grandchild (two forks, made before any application code ran, on a single thread):
nobody's child once the first fork returned, so no zombie is left to a long-running application. It
stays in the start's process group (^C and a kill of the group stop it with the start), has /dev/null
for standard input and output, and reports its failure on standard error. It holds the prune lock
from before this start lets go of it until it has written the warm record.

It tells the start that an entry is in place with one byte on a pipe. The start, and any process the
application forks, looks at installs/ itself (an entry is renamed there with its manifest once
complete): the pipe only wakes it up, and its end (EOF) says that the extractor is gone. A start waits
for the extractor before it exits (atexit): when a first start returns, its cache entries and warm
record are written, as when it extracted before running the application.
"""

from __future__ import annotations

import os
import sys
import time

from . import cache
from .extract import STORED, data_start
from .locks import ROOT_LOCK, hold_shared
from .log import BootError, log, since
from .wheels import WheelName, normalize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from importlib.machinery import ModuleSpec

    from .cache import Manifest
    from .extract import Plan, WheelSource

    Links = Iterable[tuple[str, str]]  # (site link, the entry directory it leads into)

WAKE_EVERY_SECONDS = 0.05  # a process the application forked has no wake-up of its own: it looks this often
READY = b"L"  # the extractor holds the prune lock
IN_PLACE = b"."  # one more entry is in installs/
STOP = b"S"  # to the extractor: the start is ending, stop compiling ahead of it


def possible() -> bool:
    return hasattr(os, "fork")


def module_key(link: str) -> str:
    """The module name a site link stands for: "six.py" -> "six", "google/protobuf" -> "google.protobuf",
    "numpy.libs" -> "numpy" (the same wheel's native libraries: waiting for numpy waits for them too)."""
    head, _, last = link.rpartition("/")
    last = last.split(".", 1)[0]
    return f"{head.replace('/', '.')}.{last}" if head else last


def required_names(plan: Plan) -> list[str]:
    """The normalized names of the wheel's Requires-Dist when it holds compiled code (a shared object
    may load another wheel's by path), none for a pure-Python wheel: its code reaches another
    distribution by importing it, and so waits then (the project's own wheel, which requires the whole
    closure, does not wait for all of it). A requirement of an extra is left out (an extra the project
    wants is among its own requirements); other markers are ignored (waiting too long is safe)."""
    if not any(".so" in relative.rpartition("/")[2] for _, relative in plan.members):
        return []
    metadata = (i for i, at in plan.members if at.count("/") == 1 and at.endswith(".dist-info/METADATA"))
    member = next(metadata, None)
    if member is None:
        return []
    wheel = plan.wheel
    start = data_start(wheel.fd, wheel.offset, member.header_offset, f"{plan.label}: {member.filename}")
    data = os.pread(wheel.fd, member.compress_size, start)
    if member.compress_type != STORED:
        import zlib

        data = zlib.decompressobj(-15).decompress(data, 1 << 20)
    text = data.decode("utf-8", "replace")
    names = []
    for line in text.split("\n"):
        if not line.strip():
            break  # the end of the headers: the description follows
        if line.lower().startswith("requires-dist:") and "extra" not in line.partition(";")[2]:
            value = line.split(":", 1)[1].strip()
            end = next((i for i, c in enumerate(value) if not (c.isalnum() or c in "._-")), len(value))
            names.append(normalize(value[:end]))
    return names


class ExtractionFailed(ImportError):
    """An import needed an entry the extractor ended without making."""


class Beside:
    """The meta path finder that makes an import wait for the entries it needs (first on sys.meta_path
    until every entry is in place), and the start's side of the pipe."""

    hatch_pex_overlap = True

    def __init__(
        self,
        root: str,
        fds: tuple[int, int],
        entries: dict[str, str],
        plans: Sequence[tuple[Plan, str]],
        links: Links,
    ) -> None:
        """`fds`: the pipe from the extractor, and the one to it (ahead.py: a byte asks it to stop
        compiling); `entries`: {wheel: its installs/ directory} of the wheels being extracted; `links`:
        (site link, the entry it leads into) of the whole site."""
        self.root, (self.fd, self.stop_fd), self.gone = root, fds, False
        self.owner = os.getpid()  # the start: a process the application forks has a pid of its own
        self.pending = dict(entries)
        by_entry = {entry: wheel for wheel, entry in entries.items()}
        by_name = {WheelName(wheel).project: wheel for wheel in entries}
        self.distributions = by_name
        needs = {wheel: [by_name[n] for n in required_names(plan) if n in by_name] for plan, wheel in plans}
        self.closure: dict[str, set[str]] = {}
        for wheel in entries:
            seen, todo = {wheel}, [wheel]
            while todo:
                for required in needs.get(todo.pop(), ()):
                    if required not in seen:
                        seen.add(required)
                        todo.append(required)
            self.closure[wheel] = seen
        # each site link that leads into an entry being extracted, and its wheel
        self.links = {link: by_entry[entry] for link, entry in links if entry in by_entry}
        self.modules: dict[str, set[str]] = {}
        for link, wheel in self.links.items():
            self.modules.setdefault(module_key(link), set()).add(wheel)
        # it lists every distribution on sys.path when imported
        self.modules.setdefault("pkg_resources", set()).update(entries)

    # the meta path finder's side: it finds nothing itself, it only waits

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        wheels = self.modules.get(fullname)
        if wheels and self.pending:
            self.wait(set().union(*(self.closure[wheel] for wheel in wheels)), f"import {fullname}")
        return None

    def find_distributions(self, context: object = None) -> Iterator[object]:
        if self.pending:
            name = getattr(context, "name", None)
            if name is None:
                self.wait(self.closure, "the list of the installed distributions")
            elif (wheel := self.distributions.get(normalize(name))) is not None:
                self.wait({wheel}, f"the metadata of {name}")
        return iter(())

    def invalidate_caches(self) -> None:
        pass

    # waiting

    def wait(self, wheels: Iterable[str], why: str) -> None:
        """Returns once every one of `wheels` is in installs/; ImportError when the extractor ended
        without putting one there (it said why on standard error)."""
        remaining = [wheel for wheel in wheels if wheel in self.pending]
        if not remaining:
            return
        started, count, slept = time.perf_counter(), len(remaining), False
        while True:
            remaining = [wheel for wheel in remaining if not self._in_place(wheel)]
            if not remaining:
                break
            slept = True
            if self.gone:
                raise ExtractionFailed(
                    f"hatch-pex: {why}: {', '.join(sorted(remaining))} could not be extracted into "
                    f"{self.root}/installs (the extraction's error is above, if any)"
                )
            self._sleep()
        if slept:
            log(f"{why} waited {since(started)} for the extraction of {count} wheels")

    def wait_for_modules(self, modules: Iterable[str], why: str) -> None:
        """wait() for what importing each of the dotted `modules` would wait for (every parent too)."""
        wheels: set[str] = set()
        for module in modules:
            parts = module.split(".")
            for end in range(1, len(parts) + 1):
                for wheel in self.modules.get(".".join(parts[:end]), ()):
                    wheels |= self.closure[wheel]
        self.wait(wheels, why)

    def _in_place(self, wheel: str) -> bool:
        entry = self.pending.get(wheel)
        if entry is None:
            return True
        if not os.path.exists(os.path.join(entry, cache.MANIFEST)):
            return False
        del self.pending[wheel]
        if not self.pending and self in sys.meta_path:
            sys.meta_path.remove(self)
        return True

    def _sleep(self, timeout: float = WAKE_EVERY_SECONDS) -> bool:
        """Until the extractor writes (an entry is in place) or ends, or `timeout` passed; whether it
        did either."""
        import select

        if self.gone:
            return True
        readable, _, _ = select.select([self.fd], [], [], timeout)
        if readable and not os.read(self.fd, 4096):
            self.gone = True
        return bool(readable)

    def at_exit(self) -> None:
        """The start does not end before the extractor does: the cache is complete when it returns. An
        extractor compiling ahead of the application (ahead.py) is asked to stop, and stops after the
        module at hand."""
        if os.getpid() != self.owner or self.gone:
            return  # a process the application forked: the start's own process waits
        try:  # noqa: SIM105
            os.write(self.stop_fd, STOP)
        except OSError:
            pass  # it is gone already
        started = time.perf_counter()
        try:
            while self._sleep(0.0) and not self.gone:
                pass  # what it wrote while nobody read
            if self.gone:
                return  # it had finished: nothing was waited for
            while not self.gone:
                self._sleep()
        except KeyboardInterrupt:
            return
        log(f"the exit waited {since(started)} for the extraction")


def start(
    root: str,
    plans: Sequence[tuple[Plan, str]],
    source: WheelSource,
    workers: int,
    finish: Callable[[dict[str, Manifest]], None],
    links: Links,
    ahead: tuple[str, str] | None = None,
) -> Beside | None:
    """Starts the extractor of `plans` (cache.plan_extraction), which calls `finish({wheel: manifest})`
    once every entry is in place, then, given `ahead` (the site directory and the module the
    application imports first), compiles ahead of the application (ahead.py); returns once it holds
    the prune lock (the caller may let go of its own then), with the finder installed first on
    sys.meta_path. None when it could not be started (the caller extracts `plans` itself)."""
    import atexit

    entries = {wheel: os.path.join(root, "installs", source.distributions[wheel]) for _, wheel in plans}
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        stream.flush()
    read_fd, write_fd = os.pipe()
    stop_read, stop_write = os.pipe()  # not inherited by what the application executes (O_CLOEXEC)
    try:
        pid = os.fork()
    except OSError as exc:  # no more processes: this one extracts, before the application
        log(f"cannot start the extraction beside the application ({exc}); extracting first")
        for fd in (read_fd, write_fd, stop_read, stop_write):
            os.close(fd)
        return None
    if pid == 0:  # pragma: no cover - the extractor's side runs in the forked processes
        try:
            os.close(read_fd)
            os.close(stop_write)
            if os.fork() == 0:
                _extract(root, plans, source, workers, (write_fd, stop_read), finish, ahead)
        finally:
            os._exit(0)
    os.close(write_fd)
    os.close(stop_read)
    os.waitpid(pid, 0)
    try:
        ready = os.read(read_fd, 1)  # READY, or b"" when the second fork failed
        beside = Beside(root, (read_fd, stop_write), entries, plans, links)
    except BaseException:
        os.close(read_fd)
        os.close(stop_write)
        raise
    if ready != READY:
        log("the extraction beside the application did not start; extracting first")
        os.close(read_fd)
        os.close(stop_write)
        return None
    log(f"extracting {len(plans)} wheels beside the application")
    sys.meta_path.insert(0, beside)
    atexit.register(beside.at_exit)
    return beside


def _extract(  # pragma: no cover - runs in the forked extractor
    root: str,
    plans: Sequence[tuple[Plan, str]],
    source: WheelSource,
    workers: int,
    fds: tuple[int, int],
    finish: Callable[[dict[str, Manifest]], None],
    ahead: tuple[str, str] | None,
) -> None:
    started = time.perf_counter()
    fd, stop_fd = fds
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)  # it reads nothing and writes only errors (and logs)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        hold_shared(os.path.join(root, ROOT_LOCK), wait=True)  # until this process ends
        os.write(fd, READY)

        def in_place(wheel: str, manifest: Manifest) -> None:
            try:  # noqa: SIM105
                os.write(fd, IN_PLACE)
            except OSError:
                pass  # every reader is gone (the start ended): the extraction goes on

        manifests = cache.extract_planned(root, plans, source, workers, True, True, in_place)
        finish(manifests)
        log(f"extracted {len(plans)} wheels beside the application in {since(started)}", 2)
        code = 0
        if ahead is not None:
            from .ahead import compile_ahead, stop_requested, worthwhile  # compiled here, not in the start

            if worthwhile():
                compile_ahead(*ahead, lambda: stop_requested(stop_fd))
    except KeyboardInterrupt:
        code = 130
    except BootError as exc:
        sys.stderr.write(f"hatch-pex: error: {exc}\n")
    except OSError as exc:
        sys.stderr.write(f"hatch-pex: error: cannot unpack the wheels into the cache {root}: {exc}\n")
    except BaseException as exc:  # a runtime bug: said, as the start would say it (damage.py)
        sys.stderr.write(f"hatch-pex: internal error in the extraction: {type(exc).__name__}: {exc}\n")
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)
