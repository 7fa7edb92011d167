"""Stand-alone verifier of a case's evidence bundle (GET /api/v1/cases/<id>/evidence.zip).

    python -m server.tools.verify_bundle case-17-evidence.zip [--expect-manifest SHA] [-v]
    python server/tools/verify_bundle.py case-17-evidence.zip     # the same, as a script

Prints VERIFIED, or NOT VERIFIED and one line per difference, then the SHA-256 of the
manifest; notes (evidence the server could not include, checks that could not be made)
go to stderr. Exits 0 when verified, 1 when not, 2 when the file is not a bundle at all
(not a ZIP, no readable manifest). Standard library only: no database, no app.

What it cannot know: that the bundle was not regenerated wholesale by someone with
database access. The server records the manifest's SHA-256 in its audit log when it
builds a bundle (event `case.bundle`); compare the printed hash with that record, or
pass it as --expect-manifest. The format is specified in docs/evidence-bundle.md.

Run as a plain script it loads bundle_checks.py from its own directory, so that not even
the `server` package (which imports Flask) is imported.
"""

import argparse
import importlib
import sys
import zipfile
from pathlib import Path

if __package__:
    from . import bundle_checks
else:  # a plain script: import the sibling module as a top-level module
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    bundle_checks = importlib.import_module("bundle_checks")

BundleError = bundle_checks.BundleError
event_hash = bundle_checks.event_hash


def verify(path, expect_manifest=None):
    """(differences, notes, manifest SHA-256); no differences means verified. Raises
    BundleError if `path` is not a bundle at all."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise BundleError(f"cannot read {path} as a ZIP: {error}") from None
    with archive:
        try:
            manifest, manifest_sha = bundle_checks.load_manifest(archive)
        except bundle_checks.DAMAGED as error:
            raise BundleError(f"cannot read the manifest: {error}") from None
        check = bundle_checks.Check(archive, manifest)
        for stage in check.stages():
            try:
                stage()
            except (AttributeError, KeyError, TypeError, ValueError) as error:
                # A record reshaped by hand; the file is named as changed already.
                check.out.append(
                    f"{stage.__name__}: not completed, a record is malformed ({error!r})"
                )
    if expect_manifest is not None and expect_manifest.lower() != manifest_sha:
        check.out.append(
            f"manifest sha256 differs: expected {expect_manifest}, bundle has {manifest_sha}"
        )
    for item in manifest.get("unresolved") or []:
        check.notes.append(f"evidence item not included: {bundle_checks.canonical_json(item)}")
    return check.out, check.notes, manifest_sha


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m server.tools.verify_bundle",
        description="Check a case's evidence bundle offline and say whether it is intact.",
    )
    parser.add_argument("bundle", help="the evidence bundle, a ZIP file")
    parser.add_argument(
        "--expect-manifest",
        metavar="SHA",
        help="the manifest SHA-256 the server recorded (audit event case.bundle)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print a summary too")
    args = parser.parse_args(argv)
    try:
        differences, notes, manifest_sha = verify(args.bundle, args.expect_manifest)
    except BundleError as error:
        print(f"error: not an evidence bundle: {error}", file=sys.stderr)
        return 2
    print("NOT VERIFIED" if differences else "VERIFIED")
    for line in differences:
        print(line)
    print(f"manifest sha256: {manifest_sha}")
    if args.verbose and not differences:
        print(_summary(args.bundle))
    for line in notes:
        print(f"note: {line}", file=sys.stderr)
    return 1 if differences else 0


def _summary(path):
    with zipfile.ZipFile(path) as archive:
        manifest = bundle_checks.parse_json(archive.read(bundle_checks.MANIFEST))
        audit = bundle_checks.parse_json(archive.read("audit.json"))
    head = audit["head"]
    return (
        f"case {manifest['case_id']}: {len(manifest['files'])} files, "
        f"{len(audit['events'])} audit events, chain head {head['seq']} {head['hash']}"
    )


if __name__ == "__main__":
    sys.exit(main())
