"""flask commands: `flask --app server users create ...`, `audit verify`, `seed demo`."""

import sys
import unicodedata

import click
from flask.cli import AppGroup

from server.errors import AppError

users_cli = AppGroup("users", help="Manage log-ins.")
audit_cli = AppGroup("audit", help="The audit log.")
storage_cli = AppGroup("storage", help="The evidence store.")
seed_cli = AppGroup("seed", help="Load data into an empty database.")
backup_cli = AppGroup("backup", help="Back up and restore the database and the evidence.")
retention_cli = AppGroup("retention", help="Purge evidence past its retention period.")


def _fail(message):
    click.echo(message, err=True)
    sys.exit(1)


@users_cli.command("create")
@click.option("--phone", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    type=click.Choice(["cadre", "inspector", "reviewer", "admin"]),
)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for (hidden) when left out, so it stays out of the shell history.",
)
@click.option("--region", "jurisdiction_code", default=None, help="Jurisdiction division code")
@click.option("--unit", "unit_id", type=int, default=None, help="Home unit id")
def create_user(phone, name, roles, password, jurisdiction_code, unit_id):
    """Create a user, e.g. the first administrator."""
    from schemas.users import UserSchema
    from server.services import users

    payload = {"phone": phone, "name": name, "roles": list(roles), "password": password}
    if jurisdiction_code:
        payload["jurisdiction_code"] = jurisdiction_code
    if unit_id is not None:
        payload["unit_id"] = unit_id
    errors = UserSchema().validate(payload)
    if errors:
        _fail(f"invalid: {errors}")
    try:
        user = users.create(actor=_bootstrap_admin(), **UserSchema().load(payload))
    except AppError as exc:
        _fail(f"{exc.error}: {exc.message} {exc.errors or ''}")
    click.echo(f"created user {user.id} ({user.phone}, roles: {', '.join(user.roles)})")


def _bootstrap_admin():
    """A stand-in caller with the admin role, so the CLI goes through the same service."""

    class Console:
        id = None
        roles = ["admin"]

        @staticmethod
        def has_role(*roles):
            return "admin" in roles

    return Console()


@users_cli.command("set-password")
@click.option("--phone", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for (hidden) when left out, so it stays out of the shell history.",
)
def set_password(phone, password):
    """Set a user's password (recovery)."""
    import marshmallow as ma

    from schemas.users import validate_password
    from server.services import users

    try:
        validate_password(password)
    except ma.ValidationError as exc:
        _fail(f"invalid password: {' '.join(exc.messages)}")
    try:
        users.set_password(phone=phone, password=password)
    except LookupError:
        _fail(f"no user with phone {phone}")
    except AppError as exc:
        _fail(f"invalid password: {' '.join(exc.errors.get('password', [exc.message]))}")
    click.echo(f"password set for {phone}")


@audit_cli.command("verify")
@click.option(
    "--head",
    "recorded",
    default=None,
    metavar="SEQ:HASH",
    help="A head printed by an earlier run: also check the log was not cut short.",
)
def verify_audit(recorded):
    """Recompute the hash chain; exit 1 naming the first broken event. Prints the head
    to write down elsewhere (deleting the newest events cannot be seen otherwise)."""
    from server.services import audit

    count, broken, reason = audit.verify_chain()
    if broken is not None:
        _fail(f"BROKEN at event {broken}: {reason} ({count} events read)")
    if recorded:
        seq, _, digest = recorded.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            _fail("--head takes SEQ:HASH as printed by this command")
        problem = audit.check_recorded_head(int(seq), digest)
        if problem:
            _fail(f"BROKEN: {problem}")
    seq, digest = audit.head()
    click.echo(f"OK: {count} events, chain intact")
    click.echo(f"head: {seq}:{digest}")


@seed_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) if any user exists.")
@click.option(
    "--regions-dir",
    type=click.Path(file_okay=False),
    envvar="REGIONS_DIR",
    help="Folder with the anhui_*.csv division files [default: ../shared/testdata/regions "
    "beside the project].",
)
def seed_demo(if_empty, regions_dir):
    """Load the Huainan demo: divisions, units, about 80 people, postings, households."""
    from server.demo_data import DEMO_PASSWORD
    from server.services import demo

    try:
        plan = demo.seed(regions_dir=regions_dir or demo.DEFAULT_REGIONS_DIR, if_empty=if_empty)
    except AppError as exc:
        _fail(f"{exc.error}: {exc.message}")
    if plan is None:
        click.echo("The database has users already; demo not loaded again (--if-empty).")
        logins = demo.loaded_logins(regions_dir=regions_dir or demo.DEFAULT_REGIONS_DIR)
    else:
        click.echo("Demo loaded: " + ", ".join(f"{k} {v}" for k, v in plan.counts().items()))
        logins = plan.logins()
    if logins:
        click.echo("\nDemo log-ins (every demo user has the same password):\n")
        click.echo(_table([("who", "name", "phone", "where"), *logins]))
        click.echo(f"\npassword: {DEMO_PASSWORD}\n")


def _width(text):
    # Chinese characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(rows):
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    )


@storage_cli.command("check")
@click.option("--repair", is_flag=True, help="Move staged files into place for existing rows.")
@click.option(
    "--stale-minutes", type=int, default=None, help="Default: 60 (storage.STALE_MINUTES)."
)
def check_storage(repair, stale_minutes):
    """Compare evidence files with photo and attachment rows; exit 1 on any problem."""
    from server import storage
    from server.extensions import db

    report = storage.check(
        db.session, repair=repair, stale_minutes=stale_minutes or storage.STALE_MINUTES
    )
    for label, items in (
        ("missing file (row without its file)", report.missing),
        ("orphan file (file without a row)", report.orphans),
        ("tampered file (content does not match its name)", report.tampered),
        ("stale temporary file", report.stale_temps),
        ("repaired (moved into place)", report.repaired),
        ("removed temporary file", report.removed_temps),
        ("file of a purged photo (retention unfinished)", report.purged),
        ("deleted file of a purged photo", report.removed_purged),
        ("derived image of bytes no row keeps", report.stray_derived),
        ("deleted derived image", report.removed_derived),
    ):
        for item in items:
            click.echo(f"{label}: {item}")
    if not report.ok:
        _fail("storage check: PROBLEMS FOUND")
    click.echo("storage check: OK")


@backup_cli.command("create")
@click.argument("directory", type=click.Path(file_okay=False))
def create_backup(directory):
    """Copy the database and every evidence original into DIRECTORY (new or empty),
    with manifest.json: row counts, audit head, and each file's size and SHA-256."""
    from server.services import backups

    try:
        backup = backups.create(directory=directory)
    except AppError as exc:
        _fail(f"{exc.error}: {exc.message}")
    manifest = backup.manifest
    head = manifest["audit_head"]
    click.echo(
        f"backup written to {backup.directory}: {manifest['database']['kind']} database "
        f"(revision {manifest['app_revision']}), {sum(manifest['row_counts'].values())} rows "
        f"in {len(manifest['row_counts'])} tables, {len(manifest['files']) - 1} originals"
    )
    click.echo(f"audit head: {head['seq']}:{head['hash']}")
    click.echo(f"manifest sha256: {backup.manifest_sha256}  (restore --expect-manifest)")
    for sha in backup.missing:
        click.echo(f"missing original (row without its file): {sha}", err=True)
    for sha in backup.tampered:
        click.echo(f"tampered original (left out): {sha}", err=True)
    if not backup.complete:
        _fail("backup INCOMPLETE: see `storage check`")


@backup_cli.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--expect-manifest",
    metavar="SHA256",
    default=None,
    help="The manifest sha256 printed by `backup create`: refuse any other manifest.",
)
def restore_backup(directory, expect_manifest):
    """Restore DIRECTORY into the configured, empty database and evidence store, after
    verifying every file's hash; then compare the result with the manifest."""
    from server.services import backups

    try:
        report = backups.restore(directory=directory, expect_manifest=expect_manifest)
    except AppError as exc:
        _fail(f"{exc.error}: {exc.message}")
    for sha in report.missing_at_backup:
        click.echo(f"original already missing when the backup was made: {sha}", err=True)
    for problem in report.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    if not report.ok:
        _fail("restore: CHECKS FAILED (the data is restored; see the problems above)")
    manifest = report.manifest
    click.echo(
        f"restored {sum(manifest['row_counts'].values())} rows in "
        f"{len(manifest['row_counts'])} tables and {report.originals} originals from "
        f"{manifest['created_at']}; revision, row counts, audit chain and evidence files "
        "match the manifest"
    )
    click.echo(f"audit head: {report.head[0]}:{report.head[1]}")
    if report.code_revision != manifest["app_revision"]:
        click.echo(f"the code is at revision {report.code_revision}: run `flask db upgrade`")


@retention_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Print what would be purged; change nothing.")
@click.option(
    "--before",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Purge evidence of days before this date [default: RETENTION_DAYS ago; never later].",
)
def purge_retention(dry_run, before):
    """Remove positions and photo files of evidence older than the retention period,
    except what an open flag or a case holds; audited. Meant for a daily timer."""
    from server.services import retention

    try:
        report = retention.purge(dry_run=dry_run, before=before.date() if before else None)
    except AppError as exc:
        _fail(f"{exc.error}: {exc.message}")
    verb = "would purge" if dry_run else "purged"
    click.echo(f"retention: evidence of days before {report.cutoff.isoformat()}")
    click.echo(
        f"{verb} {len(report.checkins)} check-ins and {len(report.photos)} photos "
        f"in {report.batches} batches; {report.held} older check-ins held "
        "(open flags, cases, recommendations, draft findings)"
    )
    if report.deferred or report.deferred_photos:
        click.echo(
            f"left for the next run: {report.deferred} check-ins and "
            f"{report.deferred_photos} rectification photos (what is held kept changing, "
            "or the audit chain stayed busy, while their batch was read)"
        )
    click.echo(
        f"files {'to delete' if dry_run else 'deleted'}: {len(report.files_deleted)}; "
        f"kept for other rows: {len(report.files_kept)}"
    )


def register_cli(app):
    app.cli.add_command(users_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(seed_cli)
    app.cli.add_command(storage_cli)
    app.cli.add_command(backup_cli)
    app.cli.add_command(retention_cli)
