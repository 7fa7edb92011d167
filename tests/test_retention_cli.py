"""`flask retention purge` as cron runs it: real commits in a database of its own, then
the operator's other commands (audit verify, storage check, backup create) agree."""

import json
from datetime import UTC, datetime, timedelta

from server import storage
from server.extensions import db
from server.models import Checkin, Photo
from server.services import audit
from tests.factories import Factory
from tests.services.retention_kit import checkin_of, with_photo

# The commands take no "now": days are counted back from the real today.
TODAY = datetime.now(UTC).date()
OLD_DAY = TODAY - timedelta(days=1200)
YOUNG_DAY = TODAY - timedelta(days=30)


def run(app, *args):
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def evidence(app):
    """An old check-in with a photo, and a young one (both as the factories make them)."""
    with app.app_context():
        make = Factory()
        world = make.world()
        store = storage.get_store()
        old = checkin_of(make, world.posting_a, OLD_DAY)
        old_photo = with_photo(store, old, seed=31)
        young = checkin_of(make, world.posting_a, YOUNG_DAY)
        young_photo = with_photo(store, young, seed=32)
        db.session.commit()
        return old.id, old_photo.sha256, young.id, young_photo.sha256


def test_a_daily_run_purges_old_evidence_and_the_other_commands_agree(own_database, tmp_path):
    app = own_database
    old_id, old_sha, young_id, young_sha = evidence(app)

    preview = run(app, "retention", "purge", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "would purge 1 check-ins and 1 photos" in preview.output
    assert "files to delete: 1; kept for other rows: 0" in preview.output

    done = run(app, "retention", "purge")
    assert done.exit_code == 0, done.output
    assert "purged 1 check-ins and 1 photos in 1 batches; 0 older check-ins held" in done.output
    assert "files deleted: 1" in done.output
    with app.app_context():
        assert db.session.get(Checkin, old_id).latitude is None
        assert db.session.get(Checkin, young_id).latitude is not None
        store = storage.get_store()
        assert not store.exists(old_sha) and store.exists(young_sha)
        assert audit.verification()["ok"]

    verified = run(app, "audit", "verify")
    assert verified.exit_code == 0 and "chain intact" in verified.output
    checked = run(app, "storage", "check")
    assert checked.exit_code == 0 and "storage check: OK" in checked.output, checked.output

    backup = run(app, "backup", "create", str(tmp_path / "backup"))
    assert backup.exit_code == 0, backup.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    originals = [entry["sha256"] for entry in manifest["files"][1:]]
    assert originals == [young_sha] and manifest["missing_originals"] == []

    again = run(app, "retention", "purge")
    assert again.exit_code == 0 and "purged 0 check-ins and 0 photos" in again.output


def test_a_cut_off_inside_the_period_is_refused(own_database):
    app = own_database
    evidence(app)
    result = run(app, "retention", "purge", "--before", TODAY.isoformat())
    assert result.exit_code == 1
    assert "retention_cutoff_too_late" in result.output
    with app.app_context():
        assert db.session.scalars(db.select(Photo).where(Photo.purged_at.is_not(None))).all() == []


def test_an_earlier_cut_off_purges_less(own_database):
    app = own_database
    evidence(app)
    before = (OLD_DAY - timedelta(days=1)).isoformat()
    result = run(app, "retention", "purge", "--before", before)
    assert result.exit_code == 0, result.output
    assert f"evidence of days before {before}" in result.output
    assert "purged 0 check-ins" in result.output
