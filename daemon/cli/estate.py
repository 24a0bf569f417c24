"""`autodoc resolve`, `hosts` and `host`: the estate (RESOLVER.md §7) — which hosts get which
server classes and apps from the deployment server, and why."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from daemon.cli.common import AddCommand, fail, open_database, record_id, splunk_version
from daemon.errors import RET_OK, RET_USAGE

if TYPE_CHECKING:
    from daemon.config import Config


def register(add: AddCommand) -> None:
    p = add(
        "resolve",
        cmd_resolve,
        "resolve the estate now (the daemon does it by itself)",
        "Compute a resolution of the estate from the latest complete ds_etc, instance_etc and\n"
        "inventory runs: hosts, their server classes (member, not_member or unknown, with\n"
        "why) and apps, and their effective inputs; print its summary. The daemon resolves by\n"
        "itself after such a run completes. Exit 0 on success, 2 when another process is\n"
        "resolving.",
    )
    p.add_argument(
        "--ds-version",
        type=splunk_version,
        metavar="V",
        help="the deployment servers' version (9.4.3), when etc/splunk.version is missing",
    )
    p.add_argument(
        "--if-changed",
        action="store_true",
        help="do nothing when the newest resolution was made from the same runs",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--quiet", action="store_true", help="print nothing (the log says it all)")

    p = add("hosts", cmd_hosts, "list the hosts of the estate with their classes and apps")
    p.add_argument("--serverclass", metavar="SC", help="only members of this server class")
    p.add_argument("--app", help="only hosts the deployment server delivers this app to")
    p.add_argument("--role", help="only hosts of this role (uf, hf, indexer, ds, unknown)")
    p.add_argument("--resolution", type=record_id, metavar="ID", help="default: the latest")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = add(
        "host",
        cmd_host,
        "one host: identity, classes with why, apps, effective inputs, findings",
    )
    p.add_argument("name", metavar="NAME", help="any of its names: client name, hostname, ip...")
    p.add_argument(
        "--all",
        action="store_true",
        help="list not_member classes too, with why (decided again from the DS bundle)",
    )
    p.add_argument("--resolution", type=record_id, metavar="ID", help="default: the latest")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p = add(
        "paths",
        cmd_paths,
        "where each input's data goes: hops, final index, evidence",
        "The data path of every enabled input of every host of the latest resolution\n"
        "(RESOLVER.md §5): index, sourcetype, host field, source, output groups and servers,\n"
        "the hops to the indexers (receivers matched by their splunktcp port and name), the\n"
        "final index at each indexer (certain, or conditional on a transform's REGEX, or\n"
        "unknown), whether it may be dropped, and the settings that decide it (--json).\n"
        "The shipped system/default's own inputs (splunkd's logs) count too.\n"
        "--index and --sourcetype match what an input reads and where its data ends:\n"
        "which hosts feed index X, and which would but do not get there.",
    )
    p.add_argument("--host", metavar="NAME", help="only this host's inputs (any of its names)")
    p.add_argument("--index", metavar="I", help="only paths read into or ending in this index")
    p.add_argument(
        "--sourcetype", metavar="S", help="only paths read as or ending with this sourcetype"
    )
    p.add_argument(
        "--evidence",
        action="store_true",
        help="under each path, the settings that decide it (the default with --host)",
    )
    p.add_argument("--resolution", type=record_id, metavar="ID", help="default: the latest")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p = add(
        "findings",
        cmd_findings,
        "what is broken or assumed in the estate, with evidence",
        "The findings of the latest resolution (RESOLVER.md §6): each with its code, severity,\n"
        "subject, a message and the evidence (file, line, layer, app, run). Estate-wide ones\n"
        "(an app not in the repository, a version-dependent rule) have no host.",
    )
    p.add_argument("--code", help="only this code, e.g. APP_NOT_IN_REPOSITORY")
    p.add_argument("--host", metavar="NAME", help="only those about this host (any of its names)")
    p.add_argument("--resolution", type=record_id, metavar="ID", help="default: the latest")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    register_btool(add)


def cmd_resolve(args: argparse.Namespace, config: Config) -> int:
    from daemon.resolve.store import ResolutionBusy
    from daemon.resolving import resolve_estate

    db = open_database(config)
    try:
        outcome = resolve_estate(config, db, ds_version=args.ds_version, if_changed=args.if_changed)
    except ResolutionBusy as exc:
        return fail(exc.message, RET_USAGE)
    data = {"resolution": outcome.resolution_id, **outcome.summary, "seconds": outcome.seconds}
    if args.quiet:
        return RET_OK
    if args.json:
        print(json.dumps(data, indent=2))
    elif outcome.resolution_id is None and not args.if_changed:
        print("nothing to resolve: no ds_etc, instance_etc or inventory run is complete yet")
    elif outcome.resolution_id is None:
        print("the estate has not changed since the newest resolution: nothing to do")
    else:
        counts = ", ".join(f"{v} {k}" for k, v in outcome.summary.items())
        print(f"resolution {outcome.resolution_id}: {counts} ({outcome.seconds:g} s)")
    return RET_OK


def _read_only(
    args: argparse.Namespace, config: Config, command: Callable[[argparse.Namespace, Any], int]
) -> int:
    """Run a query command on a daemon.resolve.load.EstateReader: the database without the
    ORM, ~0.15 s less start-up (a third of what `btool` may take). A reader skips the schema
    check: on an error, open_database does it, so that a database at another revision (or
    none) says so; otherwise the error stands."""
    from daemon.resolve.load import EstateReader, NoResolution

    db = EstateReader(config.database.url)
    try:
        return command(args, db)
    except (NoResolution, _NoSuchHost) as exc:
        return fail(str(exc), RET_USAGE)
    except Exception:
        open_database(config).dispose()  # raises ConfigError when not at this revision
        raise
    finally:
        db.dispose()


def _public(host: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in host.items() if not k.startswith("_")}


def cmd_hosts(args: argparse.Namespace, config: Config) -> int:
    return _read_only(args, config, _list_hosts)


def _list_hosts(args: argparse.Namespace, db: Any) -> int:
    from daemon.resolve.load import latest_resolution, stored_hosts

    hosts = stored_hosts(db, latest_resolution(db, args.resolution)["id"])
    if args.serverclass:
        hosts = [h for h in hosts if args.serverclass in h["serverclasses"]]
    if args.app:
        hosts = [h for h in hosts if args.app in h["apps"]]
    if args.role:
        hosts = [h for h in hosts if h["role"] == args.role]
    if args.json:
        print(json.dumps([_public(h) for h in hosts], indent=2))
        return RET_OK
    if not hosts:
        asked = [
            f"{name} {value!r}"
            for name, value in (
                ("server class", args.serverclass),
                ("app", args.app),
                ("role", args.role),
            )
            if value
        ]
        print(f"no host matches {' and '.join(asked)}" if asked else "no hosts")
        return RET_OK
    from daemon.render import render_table

    rows = [
        [h["name"], h["role"], h["ip"] or "", ", ".join(h["serverclasses"]), str(len(h["apps"]))]
        for h in hosts
    ]
    print(render_table(["NAME", "ROLE", "IP", "SERVER CLASSES", "APPS"], rows))
    return RET_OK


def cmd_host(args: argparse.Namespace, config: Config) -> int:
    return _read_only(args, config, lambda args, db: _show_host(args, db, config))


def _show_host(args: argparse.Namespace, db: Any, config: Config) -> int:
    from daemon.resolve.load import host_details

    resolution, host = _one_host(db, args.resolution, args.name)
    resolution_id = resolution["id"]
    details = host_details(db, resolution_id, host)
    if args.all:  # not_member is not stored: decided again for this one host
        from daemon.resolving import every_membership

        stored = {c["name"] for c in details["serverclasses"]}
        every = every_membership(config, db, resolution, host)
        details["serverclasses"] = sorted(
            details["serverclasses"] + [c for c in every if c["name"] not in stored],
            key=lambda c: c["name"],
        )
    data = {"resolution": resolution_id, "host": _public(host), **details}
    if args.json:
        print(json.dumps(data, indent=2))
        return RET_OK
    print(_render_host(data))
    return RET_OK


def cmd_findings(args: argparse.Namespace, config: Config) -> int:
    return _read_only(args, config, _list_findings)


def _list_findings(args: argparse.Namespace, db: Any) -> int:
    from daemon.resolve.load import stored_findings
    from daemon.resolve.vocabulary import FindingCode

    code = args.code.strip().upper() if args.code else None
    if code is not None and code not in {c.value for c in FindingCode}:
        known = ", ".join(sorted(c.value for c in FindingCode))
        return fail(f"no finding code {args.code!r} (known: {known})", RET_USAGE)
    resolution, host = _scope(args, db)
    found = stored_findings(db, resolution["id"], code=code, host=host["name"] if host else None)
    if args.json:
        print(json.dumps(found, indent=2))
    elif not found:
        print(f"no findings in resolution {resolution['id']}")
    else:
        for f in found:
            about = f["host"] or "(estate)"
            print(f"{f['severity'].upper():<8} {f['code']:<24} {about}  {f['message']}")
    return RET_OK


def cmd_paths(args: argparse.Namespace, config: Config) -> int:
    return _read_only(args, config, _list_paths)


def _list_paths(args: argparse.Namespace, db: Any) -> int:
    from daemon.resolve.load import stored_paths, stored_paths_json

    resolution, host = _scope(args, db)
    scope: dict[str, Any] = {
        "host_id": host["_id"] if host else None,
        "index": args.index,
        "sourcetype": args.sourcetype,
    }
    if args.json:  # one path a line, spliced from the stored JSON
        out, before = sys.stdout, "[\n"
        for line in stored_paths_json(db, resolution["id"], **scope):
            out.write(before)
            out.write(line)
            before = ",\n"
        out.write("[]\n" if before == "[\n" else "\n]\n")
        return RET_OK
    found = stored_paths(db, resolution["id"], **scope)
    if not found:
        print(f"no data paths match in resolution {resolution['id']}")
    else:
        evidence = args.evidence or bool(args.host)
        print("\n".join(render_path(p, evidence=evidence) for p in found))
    return RET_OK


def render_path(path: dict[str, Any], *, evidence: bool = False) -> str:
    """One line: host, input, [index/sourcetype], hops joined by →, the final indexes; with
    `evidence`, the settings that decide it below, one a line."""
    depth: dict[str, int] = {path["host"]: 0}
    levels: list[list[str]] = [[path["host"]]]
    outside: list[str] = []  # servers no estate host receives on: listed apart, not as a tier
    for hop in path["receivers"]:
        if hop["to"] is None:
            if hop["server"] not in outside:
                outside.append(hop["server"])
            continue
        level = depth.get(hop["from"], 0) + 1
        depth.setdefault(hop["to"], level)
        while len(levels) <= level:
            levels.append([])
        if hop["to"] not in levels[level]:
            levels[level].append(hop["to"])
    ends: dict[tuple[str, str], list[str]] = {}
    for final in path["final"]:
        what = str(final["index"] or "?")
        if final["sourcetype"] not in (None, path["sourcetype"]):
            what += f"/{final['sourcetype']}"
        if final["at"] is not None:
            ends.setdefault((what, final["certainty"]), []).append(final["at"])
    outcome = [
        f"{what} at {'|'.join(sorted(set(at)))} ({certainty})"
        for (what, certainty), at in ends.items()
    ]
    if outside:
        outcome.append(f"out of the estate to {', '.join(outside)}")
    elif any(f["at"] is None for f in path["final"]):
        outcome.append("an unknown place")
    line = (
        f"{path['host']}  {path['input']}  [{path['index']}/{path['sourcetype']}]  "
        + " → ".join("|".join(level) for level in levels)
        + f"  ⇒  {', '.join(outcome) or 'nowhere'}"
    )
    line += "  (may drop)" if path["may_drop"] else ""
    if not evidence:
        return line
    # One line per setting; copies of one file on several hosts (one app on two heavy
    # forwarders) once, with every run that holds it.
    runs: dict[tuple[Any, ...], list[str]] = {}
    for e in path["evidence"]:
        where = (e["conf"], e["stanza"], e["key"], e["value"], e["file"], e["line"])
        runs.setdefault(where, [])
        if e["run"] is not None and str(e["run"]) not in runs[where]:
            runs[where].append(str(e["run"]))
    for (conf, stanza, key, value, file, number), held in runs.items():
        source = f"{file}:{number}" + (f", run {', '.join(held)}" if held else "")
        line += f"\n    {conf}.conf [{stanza}] {key} = {value}   ({source})"
    return line


class _NoSuchHost(Exception):
    """No host of the resolution has that name, or several have it as their short name."""


def _one_host(
    db: Any, resolution_id: int | None, name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The resolution (the latest when None) and the host `name` names in it (one query, not
    every host). Raises NoResolution or _NoSuchHost."""
    from daemon.resolve.load import AmbiguousHost, find_stored_host, latest_resolution

    resolution = latest_resolution(db, resolution_id)
    missing = f"no host named {name!r} in resolution {resolution['id']}"
    try:
        host = find_stored_host(db, resolution["id"], name)
    except AmbiguousHost as exc:
        raise _NoSuchHost(f"{missing}: {exc}") from None
    if host is None:
        raise _NoSuchHost(missing)
    return resolution, host


def _scope(args: argparse.Namespace, db: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The resolution and, with --host, the host it names."""
    if args.host:
        return _one_host(db, args.resolution, args.host)
    from daemon.resolve.load import latest_resolution

    return latest_resolution(db, args.resolution), None


def _render_host(data: dict[str, Any]) -> str:
    host = data["host"]
    lines = [f"{host['name']} (resolution {data['resolution']}), role {host['role']}"]
    for key in ("client_name", "hostname", "ip", "dns", "guid", "machine_type"):
        if host.get(key):
            lines.append(f"  {key:<13}{host[key]}")
    lines.append(f"  {'sources':<13}{', '.join(host['sources'])}")
    lines.append("\nserver classes:")
    for c in data["serverclasses"]:
        lines.append(f"  {c['name']}: {c['result']}{_why(c)}")
    lines.append("\napps:")
    for a in data["apps"]:
        via = f" via {', '.join(a['serverclasses'])}" if a["serverclasses"] else ""
        state = f", {a['state']}" if a["state"] else ""
        missing = "" if a["in_repository"] else " (NOT IN THE DS REPOSITORY)"
        lines.append(f"  {a['app']}: {a['result']}{via}{state}{missing}")
    lines.append(
        f"\ninputs: {len(data['inputs'])} effective stanzas "
        f"(autodoc btool {_quoted(host['name'])} inputs --debug)"
    )
    if data["paths"]:
        lines.append("\ndata paths:")
        lines.extend(f"  {render_path(p)}" for p in data["paths"])
    if data["findings"]:
        lines.append("\nfindings:")
        lines.extend(f"  {f['code']}: {f['message']}" for f in data["findings"])
    return "\n".join(lines)


def _quoted(name: str) -> str:
    import shlex

    return shlex.quote(name)


def _why(membership: dict[str, Any]) -> str:
    from daemon.resolve.types import why_sentence

    sentence = why_sentence(membership)
    return f" — {sentence}" if sentence else ""


def register_btool(add: AddCommand) -> None:
    p = add(
        "btool",
        cmd_btool,
        "a host's effective configuration of one conf type, as btool prints it",
        "Like `splunk btool CONF list [STANZA] [--debug]` on the host, offline: system/local >\n"
        "apps' local > apps' default > system/default, apps in ASCII order, each stanza\n"
        "merged on its own before [default] fills what it lacks. The host's apps are those the\n"
        "deployment server delivers to it (live, enabled) plus what its own etc/ tree holds.\n"
        "STANZA selects stanzas by prefix, as btool does.",
    )
    p.add_argument("name", metavar="NAME", help="any of the host's names")
    p.add_argument("conf", metavar="CONF", help="conf type: inputs, outputs, props, ...")
    p.add_argument("stanza", metavar="STANZA", nargs="?", help="only stanzas starting so")
    p.add_argument("--debug", action="store_true", help="each line with the file it comes from")
    p.add_argument("--resolution", type=record_id, metavar="ID", help="default: the latest")
    p.add_argument("--json", action="store_true", help="{STANZA: {KEY: {value, file, line...}}}")


def cmd_btool(args: argparse.Namespace, config: Config) -> int:
    return _read_only(args, config, _btool)


def _btool(args: argparse.Namespace, db: Any) -> int:
    from daemon.resolve.btool import effective_to_json, render_btool
    from daemon.resolve.defaults import shipped_system_default
    from daemon.resolve.layers import conf_layer, effective, host_files, is_live
    from daemon.resolve.load import load_estate

    resolution, host = _one_host(db, args.resolution, args.name)
    runs: dict[str, dict[str, int]] = resolution["inputs"].get("runs", {})
    ds_runs = runs.get("ds_etc", {})
    label = host["_ds"] if host["_ds"] in ds_runs else next(iter(ds_runs), None)
    instance_run = next(
        (int(s.rsplit(" ", 1)[1]) for s in host["sources"] if s.startswith("instance_etc:run ")),
        None,
    )
    wanted = {
        "ds_etc": {label: ds_runs[label]} if label is not None else {},
        "instance_etc": {
            k: v for k, v in runs.get("instance_etc", {}).items() if v == instance_run
        },
    }
    # The apps the DS delivers to the host for sure, enabled, into its live apps folder
    # (app.conf is read too: a `noop` app keeps its own [install] state).
    deployed = {app for app, _state, _target in host["_deployed"]}
    types = sorted({args.conf, "app"})
    estate = load_estate(db, wanted, conf_types=types, deployment_apps=deployed)
    ds = next(iter(estate.deployment_servers), None)
    live = {app for app, state, target in host["_deployed"] if is_live(app, state, target, ds)}
    files = host_files(
        args.conf,
        ds,
        next(iter(estate.instances), None),
        live,
        shipped_system_default(args.conf),
    )
    if not files:
        return fail(f"{host['name']} has no {args.conf}.conf in any layer", RET_USAGE)
    merged = effective(args.conf, [la for f in files if (la := conf_layer(f)) is not None])
    if args.json:
        print(json.dumps(effective_to_json(merged, args.stanza), indent=2))
        return RET_OK
    home = "/opt/splunkforwarder" if host["role"] == "uf" else "/opt/splunk"
    text = render_btool(merged, args.stanza, args.debug, splunk_home=home)
    if text:
        print(text)
    return RET_OK
