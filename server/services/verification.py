"""How far to trust a check-in: each rule is a named flag with the measured values.

No flag punishes by itself (DESIGN.md, "Fair by construction"): flags put a check-in in
front of a reviewer, who decides. So every flag carries the numbers a reviewer needs.
"""

from datetime import timedelta, timezone

from geopy.distance import geodesic
from sqlalchemy import literal, union_all

from server.extensions import db
from server.models import Checkin, Device, Photo
from server.models.regions import DEFAULT_GEOFENCE_M
from server.services import photo_index, photos
from server.services.policies import SEVERITY


def distance_m(a_lat, a_lon, b_lat, b_lon):
    return geodesic((a_lat, a_lon), (b_lat, b_lon)).meters


def _flag(code, severity=None, **details):
    return {"code": code, "severity": severity or SEVERITY[code], "details": details}


# ---------------------------------------------------------------- position


def reference_position(checkin):
    """What the check-in should be near: the household for a visit to one whose position
    is known, otherwise the village post. Returns (lat, lon, radius_m, target) or None."""
    household = checkin.household
    if household is not None and household.latitude is not None:
        return household.latitude, household.longitude, None, "household"
    village = checkin.village
    if village.latitude is None:
        return None
    radius = village.geofence_radius_m or DEFAULT_GEOFENCE_M
    return village.latitude, village.longitude, radius, "village"


def geofence(checkin, policy):
    ref = reference_position(checkin)
    if ref is None:
        # Nothing to compare with: the check-in could be anywhere, so a person looks.
        checkin.distance_m = None
        return [_flag("no_reference_position", village=checkin.village.code)]
    lat, lon, radius, target = ref
    if target == "household":
        radius = policy["household_radius_m"]
    checkin.distance_m = round(distance_m(checkin.latitude, checkin.longitude, lat, lon), 1)
    allowance = min(checkin.accuracy_m, policy["accuracy_allowance_cap_m"])
    if checkin.distance_m <= radius + allowance:
        return []
    return [
        _flag(
            "outside_geofence",
            target=target,
            distance_m=checkin.distance_m,
            radius_m=radius,
            accuracy_m=checkin.accuracy_m,
            allowed_m=round(radius + allowance, 1),
            post_latitude=lat,
            post_longitude=lon,
        )
    ]


def accuracy(checkin, policy):
    if checkin.accuracy_m == 0:
        return [_flag("poor_accuracy", accuracy_m=0, reason="zero accuracy (mock providers)")]
    if checkin.accuracy_m > policy["poor_accuracy_m"]:
        return [
            _flag("poor_accuracy", accuracy_m=checkin.accuracy_m, limit_m=policy["poor_accuracy_m"])
        ]
    return []


def mock_location(checkin, policy):
    return [_flag("mock_location", reported_by="device")] if checkin.mock_location else []


# ---------------------------------------------------------------- photos


def exif_position(checkin, photos, policy):
    flags = []
    for photo in photos:
        if photo.exif_latitude is None:
            continue
        d = distance_m(
            checkin.latitude, checkin.longitude, photo.exif_latitude, photo.exif_longitude
        )
        if d > policy["exif_gps_mismatch_m"]:
            flags.append(
                _flag(
                    "exif_gps_mismatch",
                    photo_sha256=photo.sha256,
                    exif_latitude=photo.exif_latitude,
                    exif_longitude=photo.exif_longitude,
                    distance_m=round(d, 1),
                    limit_m=policy["exif_gps_mismatch_m"],
                )
            )
    return flags


def photo_taken_at(photo, device_offset_min):
    """The photo's capture instant. Without an offset in the photo, the phone wrote its
    own local time, so the check-in's device offset is the best reading of it."""
    if photo.exif_taken_local is None:
        return None
    if photo.exif_offset:
        sign = -1 if photo.exif_offset.startswith("-") else 1
        hours, minutes = photo.exif_offset[1:].split(":")
        offset = sign * (int(hours) * 60 + int(minutes))
    else:
        offset = device_offset_min
    return photo.exif_taken_local.replace(tzinfo=timezone(timedelta(minutes=offset)))


def photo_time(checkin, photos, policy):
    flags = []
    for photo in photos:
        taken = photo_taken_at(photo, checkin.captured_offset_min)
        if taken is None:
            continue
        minutes = abs((taken - checkin.captured_at).total_seconds()) / 60
        if minutes > policy["photo_time_mismatch_min"]:
            flags.append(
                _flag(
                    "photo_time_mismatch",
                    photo_sha256=photo.sha256,
                    exif_taken_at=taken.isoformat(),
                    offset_known=bool(photo.exif_offset),
                    difference_min=round(minutes, 1),
                    limit_min=policy["photo_time_mismatch_min"],
                )
            )
    return flags


def photo_reuse(checkin, new_photos, policy):
    """The same picture (byte for byte, or a near-duplicate by perceptual hash) in any
    earlier check-in by anyone."""
    matches = []
    for photo in new_photos:
        same = db.session.execute(
            db.select(Photo.id, Photo.checkin_id)
            .where(Photo.sha256 == photo.sha256, Photo.checkin_id != checkin.id)
            .order_by(Photo.id)
            .limit(1)
        ).first()
        if same is not None:
            matches.append(_match(photo, same.id, same.checkin_id, 0, "identical"))
            continue
        if photos.featureless(photo.phash_int):
            continue  # blank frames all hash alike; only identical bytes count for them
        hit = photo_index.nearest_elsewhere(
            photo.phash_int, checkin_id=checkin.id, max_distance=policy["phash_max_distance"]
        )
        if hit is not None:
            photo_id, other_checkin_id, dist = hit
            matches.append(_match(photo, photo_id, other_checkin_id, dist, "near_duplicate"))
    if not matches:
        return []
    first = matches[0]
    return [_flag("photo_reused", **first, matches=matches)]


def _match(photo, other_photo_id, other_checkin_id, distance, kind):
    return {
        "photo_sha256": photo.sha256,
        "match": kind,
        "earlier_photo_id": other_photo_id,
        "earlier_checkin_id": other_checkin_id,
        "hamming_distance": distance,
    }


# ---------------------------------------------------------------- time and travel


def clock(checkin, policy):
    ahead = (checkin.captured_at - checkin.received_at).total_seconds()
    if ahead > policy["future_tolerance_s"]:
        return [_flag("clock_skew", reason="device_time_in_future", ahead_s=round(ahead))]
    delay_h = -ahead / 3600
    if delay_h > policy["max_sync_delay_h"]:
        return [
            _flag(
                "clock_skew",
                reason="late_sync",
                delay_h=round(delay_h, 1),
                limit_h=policy["max_sync_delay_h"],
            )
        ]
    return []


def travel(checkin, policy):
    """Speed from the nearest check-in before and after this one in device time: offline
    check-ins arrive out of order, so the neighbour may be later."""
    flags = []
    for neighbour in _time_neighbours(checkin):
        km = (
            distance_m(checkin.latitude, checkin.longitude, neighbour.latitude, neighbour.longitude)
            / 1000
        )
        # A floor of one minute keeps GPS jitter between quick check-ins from looking fast.
        hours = max(abs((checkin.captured_at - neighbour.captured_at).total_seconds()), 60) / 3600
        speed = km / hours
        if speed > policy["impossible_travel_kmh"]:
            flags.append(
                _flag(
                    "impossible_travel",
                    other_checkin_id=neighbour.id,
                    distance_km=round(km, 2),
                    hours=round(hours, 3),
                    speed_kmh=round(speed, 1),
                    limit_kmh=policy["impossible_travel_kmh"],
                )
            )
    return flags[:1]


def _time_neighbours(checkin):
    """The nearest check-in before and after, in one query (it runs on every check-in).
    Plain columns, not Checkin objects: the rule needs four values of each."""
    base = db.select(Checkin.id, Checkin.latitude, Checkin.longitude, Checkin.captured_at).where(
        Checkin.cadre_id == checkin.cadre_id,
        Checkin.id != checkin.id,
        Checkin.latitude.is_not(None),  # retention purged it: nothing to measure from
    )
    before = (
        base.add_columns(literal(0).label("side"))
        .where(Checkin.captured_at <= checkin.captured_at)
        .order_by(Checkin.captured_at.desc())
        .limit(1)
        .subquery()
    )
    after = (
        base.add_columns(literal(1).label("side"))
        .where(Checkin.captured_at > checkin.captured_at)
        .order_by(Checkin.captured_at)
        .limit(1)
        .subquery()
    )
    rows = db.session.execute(union_all(db.select(before), db.select(after))).all()
    return sorted(rows, key=lambda row: row.side)  # the earlier one first, as before


# ---------------------------------------------------------------- device and position


def device(checkin, policy):
    mine = Checkin.cadre_id == checkin.cadre_id
    this_device = Checkin.device_id == checkin.device_id
    others = Checkin.cadre_id != checkin.cadre_id
    not_this = Checkin.id != checkin.id
    # Four yes-or-no questions in one query, on ix_checkin_cadre_id_captured_at and
    # ix_checkin_device_id_cadre_id, instead of counting every check-in of the cadre and
    # the device: the first three stop at their first row; "anyone else on this device?"
    # reads the device's index entries (not its rows) when the answer is no. A phone only
    # its owner uses, the usual case, costs this query alone; the names of the others, a
    # second.
    earlier, used_before, others_checkins, others_registered = db.session.execute(
        db.select(
            db.exists().where(mine, not_this),
            db.exists().where(this_device, mine, not_this),
            db.exists().where(this_device, others),
            db.exists().where(
                Device.device_id == checkin.device_id, Device.user_id != checkin.cadre_id
            ),
        )
    ).one()
    if others_checkins or others_registered:
        return [
            _flag(
                "new_device",
                "high",
                reason="shared",
                device_id=checkin.device_id,
                other_cadre_ids=_other_users_of(checkin),
            )
        ]
    if not earlier:
        return []  # everyone's first check-in comes from some device
    if used_before:
        return []
    return [_flag("new_device", reason="unseen", device_id=checkin.device_id)]


def _other_users_of(checkin):
    ids = db.session.execute(
        db.select(Checkin.cadre_id)
        .where(Checkin.device_id == checkin.device_id, Checkin.cadre_id != checkin.cadre_id)
        .union(
            db.select(Device.user_id).where(
                Device.device_id == checkin.device_id, Device.user_id != checkin.cadre_id
            )
        )
    ).scalars()
    return sorted(set(ids))


def repeated_position(checkin, policy):
    """Real GPS fixes scatter; the very same coordinates on another day suggest a replay."""
    lat, lon = round(checkin.latitude, 6), round(checkin.longitude, 6)
    half = 5e-7
    same = db.session.execute(
        db.select(Checkin.id, Checkin.cadre_id, Checkin.local_date)
        .where(
            Checkin.latitude.between(lat - half, lat + half),
            Checkin.longitude.between(lon - half, lon + half),
            Checkin.local_date != checkin.local_date,
            Checkin.id != checkin.id,
        )
        .order_by(Checkin.id)
        .limit(1)
    ).first()
    if same is None:
        return []
    return [
        _flag(
            "repeated_position",
            latitude=lat,
            longitude=lon,
            earlier_checkin_id=same.id,
            earlier_date=same.local_date.isoformat(),
            same_cadre=same.cadre_id == checkin.cadre_id,
        )
    ]


CHECKIN_RULES = (geofence, accuracy, mock_location, clock, travel, device, repeated_position)
PHOTO_RULES = (exif_position, photo_time, photo_reuse)


def assess(checkin, policy):
    """All flags for a new check-in (its photos included). It may not be written yet:
    then its id is None, and each rule's "not this check-in" condition (`Checkin.id !=
    checkin.id`, `Photo.checkin_id != checkin.id`) becomes IS NOT NULL, every row."""
    flags = []
    for rule in CHECKIN_RULES:
        flags += rule(checkin, policy)
    return flags + assess_photos(checkin, checkin.photos, policy)


def assess_photos(checkin, photos, policy):
    """Flags from photos alone: also run when a resend adds a photo that was missing."""
    flags = []
    for rule in PHOTO_RULES:
        flags += rule(checkin, photos, policy)
    return flags
