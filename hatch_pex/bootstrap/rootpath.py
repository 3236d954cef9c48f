"""The rule for a cache root (docs/security.md, "The cache at start"): which paths nobody but this user
or root can change, resolved. __init__.plainly_trusted decides the usual case on the warm path; this
module, compiled only when that says no, decides every case, and is what cache.py, tools.py and the
build cache (through trust.py) call.
"""

from __future__ import annotations

import os

from . import owned


def trusted_root(path: str, subdirectories: tuple[str, ...] = ()) -> tuple[str | None, str | None]:
    """(`path` resolved, None) when nobody but this user or root can change what is under it: nobody
    else can replace or write into a directory leading to it (trusted_path), and it and its
    `subdirectories` are `owned` (a symlink is not). (None, why not) otherwise. A root not there yet is
    accepted, as the path it will have: whoever makes it checks it again."""
    resolved, problem, st = trusted_path(path)
    if st is None or resolved is None:
        return resolved, problem
    for sub in ("", *subdirectories):
        where = os.path.join(resolved, sub) if sub else resolved
        try:
            st = os.lstat(where)
        except OSError:
            continue
        if not owned(st):  # a subdirectory's type too: a symlink is refused whatever its mode
            mode = st.st_mode & (0o177777 if sub else 0o7777)
            return None, f"{where} is owned by uid {st.st_uid} with mode {mode:o}"
    return resolved, None


def trusted_path(path: str) -> tuple[str | None, str | None, os.stat_result | None]:
    """(`path` with every symlink resolved, None, its lstat) when nobody but this user or root could
    replace or write into a directory leading to it; (None, why not, None) otherwise; (the path it
    would have, None, None) when it is not there yet (nor a directory: nothing below it is read).

    Each component of the absolute `path` as configured is looked at with lstat, from `/` down. Every
    directory passed through must be owned by this user or root and writable by nobody else, except
    that others may write a sticky directory (as /tmp) when the next component is owned by this user
    or root and not a symlink, and the group may write one whose group is this user's own (own_group).
    A symlink is followed only if nobody else could have placed or replaced it: owned by this user or
    root in a directory nobody else can write (sticky or not); its target is checked the same way."""
    uid = os.getuid()
    todo = path.split("/")[::-1]  # the components still to look at, the next one last
    directory, dir_st, links = "/", os.lstat("/"), 0
    above: list[tuple[str, os.stat_result]] = []  # the directories passed, for ".." in a link's target
    while todo:
        name = todo.pop()
        if name in ("", ".") or (name == ".." and not above):
            continue
        if name == "..":
            directory, dir_st = above.pop()
            continue
        child = os.path.join(directory, name)
        try:
            st: os.stat_result | None = os.lstat(child)
        except OSError:
            st = None
        mode, kind = dir_st.st_mode & 0o7777, st.st_mode & 0o170000 if st else 0
        link, child_uid = kind == 0o120000, st.st_uid if st else uid
        others = mode & 0o002 or (mode & 0o020 and not own_group(dir_st.st_gid))  # others may write here
        # in a sticky directory only the owner of `child` may rename it: it must be ours, not a symlink
        if (
            dir_st.st_uid not in (uid, 0)
            or (child_uid not in (uid, 0) and (others or link))
            or (others and (link or not mode & 0o1000))
        ):
            what = f"is owned by uid {child_uid}{' (a symlink)' if link else ''}" if st else "is missing"
            problem = f"{child} {what}, in {directory}, above it, owned by uid {dir_st.st_uid} with mode"
            return None, f"{problem} {mode:o} (gid {dir_st.st_gid})", None
        if st is None:  # not there yet: the path it will have
            return os.path.normpath(os.path.join(child, *todo[::-1])), None, None
        links += link
        if links > 40:  # the kernel's own limit
            return None, f"{path} leads through more than 40 symlinks", None
        if kind == 0o120000:
            try:
                target = os.readlink(child)
            except OSError:  # gone meanwhile (only this user or root could do that): not there
                return os.path.normpath(os.path.join(child, *todo[::-1])), None, None
            todo += target.split("/")[::-1]
            if target.startswith("/"):
                directory, dir_st, above = "/", os.lstat("/"), []
        elif kind != 0o040000:
            return os.path.normpath(os.path.join(child, *todo[::-1])), None, None
        else:
            above.append((directory, dir_st))
            directory, dir_st = child, st
    return directory, None, dir_st


def own_group(gid: int) -> bool:
    """Whether nobody but this user (and root) is in group `gid`: it is this user's primary group, it
    lists no other member and is no other user's primary group. Asked only when a group write bit is
    seen (~/.cache under a umask of 002), hence the late imports; once per group."""
    if gid not in OWN_GROUPS:
        import grp
        import pwd

        uid = os.getuid()
        try:
            own = pwd.getpwuid(uid).pw_gid == gid
            own = own and all(pwd.getpwnam(name).pw_uid in (uid, 0) for name in grp.getgrgid(gid).gr_mem)
            own = own and all(user.pw_uid in (uid, 0) for user in pwd.getpwall() if user.pw_gid == gid)
        except KeyError:  # a user or member the system cannot name: not provably private
            own = False
        OWN_GROUPS[gid] = own
    return OWN_GROUPS[gid]


OWN_GROUPS: dict[int, bool] = {}
