"""`--user` / `--group`: children run as another account (gunicorn's, supervisor's).

The master stays root: it has bound the port (a port below 1024 needs root) and must be
able to signal and reap every child. The agent and each app worker switch accounts first
thing after fork/spawn, before any app code runs, so the app never holds root. What the
root master creates for its children (log files, the leader endpoint) is handed to that
account (runtime/process/private_files.py reads `ENV_RUN_AS`, which `export_owner` sets).
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd

from runtime.process.cluster_options import ClusterOptions
from runtime.process.errors import OptionsError
from runtime.process.private_files import ENV_RUN_AS


@dataclasses.dataclass(frozen=True)
class Account:
    uid: int
    gid: int
    groups: tuple[int, ...]
    name: str
    home: str


def resolve(options: ClusterOptions) -> Account | None:
    """The account of `options.user` / `options.group`, None when neither is set."""
    if options.user is None and options.group is None:
        return None
    if os.geteuid() != 0:
        raise OptionsError("user/group need the master to run as root")
    try:
        entry = _user(options.user) if options.user is not None else pwd.getpwuid(os.getuid())
        gid = _group(options.group) if options.group is not None else entry.pw_gid
    except KeyError as exc:
        raise OptionsError(f"no such account: {exc.args[0]}") from None
    groups = tuple(dict.fromkeys([gid, *os.getgrouplist(entry.pw_name, gid)]))
    return Account(entry.pw_uid, gid, groups, entry.pw_name, entry.pw_dir)


def _user(value: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwuid(int(value)) if value.isdigit() else pwd.getpwnam(value)
    except KeyError:
        raise KeyError(f"user {value}") from None


def _group(value: str) -> int:
    try:
        return int(value) if value.isdigit() else grp.getgrnam(value).gr_gid
    except KeyError:
        raise KeyError(f"group {value}") from None


def export_owner(account: Account | None) -> None:
    """In the master: paths it creates from now on belong to the children's account."""
    if account is not None:
        os.environ[ENV_RUN_AS] = f"{account.uid}:{account.gid}"


def drop_privileges(options: ClusterOptions) -> None:
    """In a child, right after fork/spawn: become `options.user`/`group` for good (groups,
    then gid, then uid: once the uid is dropped the others can no longer change)."""
    account = resolve(options)
    if account is None:
        return
    os.setgroups(list(account.groups))
    os.setgid(account.gid)
    os.setuid(account.uid)
    if os.getuid() != account.uid or os.geteuid() != account.uid:  # pragma: no cover
        raise OSError(f"could not switch to uid {account.uid}")
    os.environ.update(HOME=account.home, USER=account.name, LOGNAME=account.name)
    os.environ.pop(ENV_RUN_AS, None)
