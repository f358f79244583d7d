"""One count of changes across the preview, the progress bar, the summary and ``pmtools runs``
(issue 10: the preview counted "mark synced" rows with nothing to write)."""

from fakes import small_firm

from pmtools.analysis import history as audit
from pmtools.core.plan import Op, SyncPolicy, change_total
from pmtools.engine.sync import run_sync
from pmtools.store import Store


def test_preview_progress_summary_and_runs_agree(tmp_path):
    liscio, ipm = small_firm()
    with Store.open(tmp_path / "state.sqlite") as store:
        shown = run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy(), dry_run=True)
        marks = sum(a.op is Op.MARK_SYNCED for a in shown.plan.actions)
        assert marks and len(shown.plan.writes()) > len(shown.plan.changes())
        previewed = len(shown.plan.changes())
        assert previewed == change_total(shown.counts)
        seen = []
        result = run_sync(
            liscio=liscio,
            ipm=ipm,
            store=store,
            policy=SyncPolicy(),
            progress=lambda stage, done, total, msg: seen.append((stage, done, total, msg)),
            expected=shown.plan,
        )
        applying = [
            s
            for s in seen
            if s[0] == "linking" and not s[3].startswith(("loading", "checking", "planning"))
        ]  # the steps before apply have their own
        assert {total for _s, _d, total, _m in applying} == {previewed}
        assert applying[-1][:3] == ("linking", previewed, previewed)
        assert change_total(result.counts) == previewed
        (run,) = audit.list_runs(store)
        assert run["changes"] == previewed
        assert f"changes={previewed} " in audit.render_runs(store)
