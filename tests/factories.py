"""Factories: build rows directly (fast, no HTTP) so tests can state only what matters."""

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from server import auth
from server.extensions import db
from server.models import AuthSession, Checkin, Household, Posting, Region, Unit, User
from server.models.types import utcnow

PASSWORD = "test-pass-123"
_counter = itertools.count(1)


def _next():
    return next(_counter)


@dataclass
class World:
    province: Region
    city: Region
    county_a: Region
    county_b: Region
    township_a: Region
    township_b: Region
    village_a1: Region
    village_a2: Region
    village_b1: Region
    unit_a: Unit
    unit_b: Unit
    admin: User
    city_reviewer: User
    reviewer_a: User
    reviewer_b: User
    inspector_a: User
    cadre_a: User
    cadre_b: User
    aid_cadre_a: User
    posting_a: Posting
    posting_b: Posting
    household_a: Household
    household_b: Household


class Factory:
    def region(self, code, name=None, *, parent=None, latitude=None, longitude=None):
        from server.models.regions import DEFAULT_GEOFENCE_M, level_of_code

        level = level_of_code(code)
        region = Region(
            code=code,
            name=name or f"区划{code}",
            level=level,
            parent=parent,
            latitude=latitude,
            longitude=longitude,
            geofence_radius_m=DEFAULT_GEOFENCE_M if level == "village" else None,
        )
        db.session.add(region)
        db.session.flush()
        return region

    def unit(self, region, name=None, level="city"):
        unit = Unit(name=name or f"单位{_next()}", level=level, region=region)
        db.session.add(unit)
        db.session.flush()
        return unit

    def user(
        self,
        *roles,
        name=None,
        phone=None,
        jurisdiction=None,
        unit=None,
        home_region=None,
        password=PASSWORD,
        active=True,
    ):
        user = User(
            name=name or f"用户{_next()}",
            phone=phone or f"139{_next():08d}",
            roles=list(roles) or ["cadre"],
            jurisdiction=jurisdiction,
            unit=unit,
            home_region=home_region,
            active=active,
        )
        if password:
            user.password_hash = auth.hash_password(password)
        db.session.add(user)
        db.session.flush()
        return user

    def posting(
        self, cadre, village, unit, *, role="first_secretary", start=None, end=None, status="active"
    ):
        posting = Posting(
            cadre=cadre,
            village=village,
            unit=unit,
            role=role,
            start_date=start or date(2026, 1, 1),
            end_date=end,
            status=status,
        )
        db.session.add(posting)
        db.session.flush()
        return posting

    def household(self, village, *cadres, code=None, head_name="王大山"):
        household = Household(
            village=village,
            code=code or f"H{_next():04d}",
            head_name=head_name,
            cadres=list(cadres),
        )
        db.session.add(household)
        db.session.flush()
        return household

    def checkin(self, posting, **overrides):
        """A bare check-in row (no photos, no verification), for tests below the API."""
        village = posting.village
        values = {
            "cadre": posting.cadre,
            "posting": posting,
            "village": village,
            "client_id": str(uuid.uuid4()),
            "content_hash": "0" * 64,
            "kind": "presence",
            "latitude": village.latitude,
            "longitude": village.longitude,
            "accuracy_m": 12.0,
            "captured_at": utcnow(),
            "captured_offset_min": 480,
            "local_date": date(2026, 3, 2),
            "local_time": time(9, 0),
            "device_id": "device-1",
            "verdict": "accepted",
        }
        if "captured_at" in overrides and "local_time" not in overrides:
            local = overrides["captured_at"].astimezone(ZoneInfo("Asia/Shanghai"))
            values["local_time"] = local.time().replace(tzinfo=None)
        row = Checkin(**{**values, **overrides})
        db.session.add(row)
        db.session.flush()
        return row

    def headers(self, user):
        """Authorization header for `user`, minted directly (no log-in round trip)."""
        session = AuthSession(id=auth.new_token_id(), user_id=user.id, device_id="test-device")
        db.session.add(session)
        db.session.flush()
        ttl = current_app.config["ACCESS_TOKEN_TTL"]
        token = auth.encode_token(user.id, session.id, "access", utcnow() + ttl)
        return {"Authorization": f"Bearer {token}"}

    def world(self):
        """Anhui > Huainan > Fengtai (county A) and Shou (county B), a township in each,
        villages A1, A2 in A and B1 in B; reviewers at city and county level, an
        inspector in A, resident cadres in A1 and B1, an aid cadre in A2."""
        province = self.region("340000000000", "安徽省")
        city = self.region("340400000000", "淮南市", parent=province)
        county_a = self.region("340421000000", "凤台县", parent=city)
        county_b = self.region("340422000000", "寿县", parent=city)
        township_a = self.region("340421100000", "城关镇", parent=county_a)
        township_b = self.region("340422100000", "寿春镇", parent=county_b)
        village_a1 = self.region(
            "340421100201", "东湖村委会", parent=township_a, latitude=32.7093, longitude=116.7112
        )
        village_a2 = self.region(
            "340421100202", "西湖村委会", parent=township_a, latitude=32.7201, longitude=116.6904
        )
        village_b1 = self.region(
            "340422100201", "南关村委会", parent=township_b, latitude=32.5731, longitude=116.7870
        )
        unit_a = self.unit(county_a, "凤台县财政局", "county")
        unit_b = self.unit(county_b, "寿县教育局", "county")
        cadre_a = self.user("cadre", name="张伟", unit=unit_a)
        cadre_b = self.user("cadre", name="李娜", unit=unit_b)
        aid_cadre_a = self.user("cadre", name="王芳", unit=unit_a)
        return World(
            province=province,
            city=city,
            county_a=county_a,
            county_b=county_b,
            township_a=township_a,
            township_b=township_b,
            village_a1=village_a1,
            village_a2=village_a2,
            village_b1=village_b1,
            unit_a=unit_a,
            unit_b=unit_b,
            admin=self.user("admin", name="管理员"),
            city_reviewer=self.user("reviewer", name="市委组织部", jurisdiction=city),
            reviewer_a=self.user("reviewer", name="凤台县委组织部", jurisdiction=county_a),
            reviewer_b=self.user("reviewer", name="寿县县委组织部", jurisdiction=county_b),
            inspector_a=self.user(
                "inspector",
                name="赵督查",
                jurisdiction=county_a,
                unit=unit_b,
                home_region=township_b,
            ),
            cadre_a=cadre_a,
            cadre_b=cadre_b,
            aid_cadre_a=aid_cadre_a,
            posting_a=self.posting(cadre_a, village_a1, unit_a),
            posting_b=self.posting(cadre_b, village_b1, unit_b),
            household_a=self.household(village_a2, aid_cadre_a),
            household_b=self.household(village_b1),
        )


def days(n):
    return timedelta(days=n)
