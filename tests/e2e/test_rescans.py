"""The safety nets behind the event stream: the timed full rescan, and the polling observer
for filesystems where inotify sees nothing (NFS, CIFS)."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Workspace, sha256, wait_for
from tests.e2e.test_crash_recovery import (
    TIMEOUT,
    check_invariants,
    configure,
    drop_only_a_rescan_can_see,
    running,
    tarball,
)


def test_the_timed_rescan_takes_a_file_no_event_announced(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.2, rescan=1.0, workers=1)
    data = tarball("unannounced")
    linked = ws.inbox / "ds_etc" / "unannounced.tgz"
    with running(ws) as daemon:
        daemon.wait_started()
        drop_only_a_rescan_can_see(ws, daemon, linked, data)
        wait_for(
            lambda: [e for e in daemon.named("run.stored") if e["sha256"] == sha256(data)],
            TIMEOUT,
            "the file stored by a timed rescan",
        )
        assert [e for e in daemon.named("inbox.rescan") if e["trigger"] == "timer"]
        daemon.assert_clean_exit()
    check_invariants(ws, {linked: data})


def test_polling_observer_takes_files_written_in_place_and_renamed_in(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.3, rescan=3600)
    text = ws.config.read_text(encoding="utf-8")
    ws.config.write_text(
        text.replace("rescan_seconds = 3600", 'rescan_seconds = 3600\nobserver = "polling"'),
        encoding="utf-8",
    )
    in_place, renamed = tarball("in-place"), tarball("renamed")
    with running(ws) as daemon:
        daemon.wait_started()
        assert daemon.named("watcher.started")[0]["observer"] == "polling"
        (ws.inbox / "app_bundle" / "in-place.tgz").write_bytes(in_place)
        ws.drop("app_bundle", "renamed.tgz", renamed, feeder="sh01")
        for data in (in_place, renamed):
            wait_for(
                lambda data=data: [
                    e for e in daemon.named("run.stored") if e["sha256"] == sha256(data)
                ],
                TIMEOUT,
                "stored by the polling observer",
            )
        daemon.assert_clean_exit()
    check_invariants(
        ws,
        {
            ws.inbox / "app_bundle" / "in-place.tgz": in_place,
            ws.inbox / "app_bundle" / "sh01" / "renamed.tgz": renamed,
        },
    )
