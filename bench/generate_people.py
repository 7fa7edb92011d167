"""The generator's people: the administrator, an organization department (reviewer) for
the province and every city and county, inspectors in every city, and the cadres with
their postings, phones and paired households.

Cadres: 80% live in villages in teams sent by one unit (a first secretary and up to two
team members, 单位包村), 20% are paired aid cadres with 3-5 households each. About 3% of
village posts change hands during the period: one cadre's posting ends and another's
starts the next day. Every user shares one password (`PASSWORD`).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from bench.generate_photos import PHONE_MODELS
from server import auth
from server.demo_data import GIVEN_NAMES, SURNAMES
from server.models import (
    DeclaredRelationship,
    Device,
    Household,
    Posting,
    User,
    UserRole,
    household_cadre,
)

PASSWORD = "Bench-2026"
AID_SHARE, ROTATED_SHARE = 0.20, 0.03
PHONES = {"admin": "1370000", "reviewer": "1370010", "inspector": "1370020"}  # cadres: 139


@dataclass(slots=True)
class Post:
    """One posting, with what attendance needs to know about it."""

    id: int
    cadre_id: int
    phone: str
    village: str
    village_id: int
    unit_id: int
    role: str
    start: object
    end: object = None
    households: list = field(default_factory=list)  # (id, latitude, longitude)
    phones: list = field(default_factory=list)  # (from day, device id, model index)


@dataclass
class Staff:
    admin: int
    reviewers: dict  # region code -> the department's user id
    inspectors: list  # (user id, city code, device id)


def _name(rng):
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def _department(name, code):
    if code[4] == "7" and code[6:] == "000000":  # a development zone's party working committee
        return name + "党工委组织部"
    return name + (name[-1] if len(name) == 2 else "") + "委组织部"


class People:
    def __init__(self, writer, places, rng, first, last):
        self.writer, self.places, self.rng = writer, places, rng
        self.first, self.last = first, last
        self.hash = auth.hash_password(PASSWORD)
        self.users, self.roles, self.devices = [], [], []

    def _user(self, name, phone, role, since, **links):
        uid = len(self.users) + 1
        created = datetime.combine(since, time(1), tzinfo=UTC)
        self.users.append(
            (uid, name, phone, self.hash, True, links.get("jurisdiction"), links.get("unit"))
            + (links.get("home"), created)
        )
        self.roles.append((uid, role))
        return uid

    def _device(self, uid, since, until, model=0):
        system = "android" if PHONE_MODELS[model][2] else "ios"
        device = f"{system}-{self.rng.getrandbits(64):016x}"
        first = datetime.combine(since, time(0, 5), tzinfo=UTC)
        last = datetime.combine(until, time(12), tzinfo=UTC)
        self.devices.append((len(self.devices) + 1, uid, device, first, last))
        return device

    def staff(self):
        ids, names = self.places.ids, self.places.names
        since = self.first - timedelta(days=800)
        admin = self._user("系统管理员", PHONES["admin"] + "0001", "admin", since)
        bodies = ["340000000000", *self.places.cities, *self.places.counties]
        reviewers = {
            code: self._user(
                _department(names[code], code),
                f"{PHONES['reviewer']}{n:04d}",
                "reviewer",
                since,
                jurisdiction=ids[code],
            )
            for n, code in enumerate(bodies, start=1)
        }
        return Staff(admin, reviewers, [])

    def inspectors(self, staff, posts, n):
        """`n` inspectors over the cities, in proportion to their postings."""
        per_city = {}
        for post in posts:
            per_city.setdefault(post.village[:4], []).append(post)
        cities = sorted(per_city)
        share = [max(2, round(n * len(per_city[c]) / len(posts))) for c in cities]
        homes = [t for t in self.places.townships if t[6] < "4"]  # not zones or farms
        ties = []
        for city, count in zip(cities, share, strict=True):
            units = [uid for uid, _, code in self.places.units if code[:4] == city]
            towns = [t for t in homes if t[:4] == city]
            for _ in range(count):
                uid = self._user(
                    _name(self.rng),
                    f"{PHONES['inspector']}{len(staff.inspectors) + 1:04d}",
                    "inspector",
                    self.first - timedelta(days=400),
                    jurisdiction=self.places.ids[city.ljust(12, "0")],
                    unit=self.rng.choice(units),
                    home=self.places.ids[self.rng.choice(towns)],
                )
                device = self._device(uid, self.first, self.last)  # arrivals say model 0
                staff.inspectors.append((uid, city, device))
                declared = datetime.combine(self.first - timedelta(days=300), time(2), UTC)
                for post in self.rng.sample(per_city[city], min(2, len(per_city[city]))):
                    ties.append((len(ties) + 1, uid, post.cadre_id, "亲属", declared))
        return ties

    def cadres(self, n):
        n_aid = round(n * AID_SHARE)
        n_rotated = round((n - n_aid) * ROTATED_SHARE)
        slots = self._teams(n - n_aid - n_rotated)
        posts = []
        for village, role, unit in slots:
            posts.append(self._post(village, role, unit, self._start(700)))
        for post in self.rng.sample(posts, n_rotated):  # a village post changes hands
            span = (self.last - self.first).days
            post.end = self.first + timedelta(days=self.rng.randrange(span // 8, span * 7 // 8))
            posts.append(self._post(post.village, post.role, post.unit_id, post.end + timedelta(1)))
        staffed = sorted({v for v, *_ in slots})
        for _ in range(n_aid):
            pool = staffed if self.rng.random() < 0.6 else self.places.committees
            village = self.rng.choice(pool)
            unit = self._unit(village, aid=True)
            posts.append(self._post(village, "paired_aid", unit, self._start(300)))
        return posts

    def _start(self, days_before):
        return self.first - timedelta(days=self.rng.randrange(1, days_before))

    def _teams(self, count):
        sizes = []
        while sum(sizes) < count:
            sizes.append(self.rng.choices((1, 2, 3), weights=(3, 4, 3))[0])
        if sizes:
            sizes[-1] -= sum(sizes) - count
        pool = self.places.committees
        villages = self.rng.sample(pool, min(len(sizes), len(pool)))
        slots = []
        for village, size in zip(villages, sizes, strict=False):
            unit = self._unit(village)  # one unit sends the whole team
            roles = ["first_secretary"] + ["team_member"] * (size - 1)
            slots += [(village, role, unit) for role in roles]
        return slots

    def _unit(self, village, aid=False):
        units = self.places.units_for(village)
        weights = {"province": 0 if aid else 15, "city": 30 if aid else 35, "county": 70}
        level = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        return self.rng.choice([uid for uid, lv in units if lv == level] or [units[0][0]])

    def _post(self, village, role, unit, start):
        phone = f"139{len(self.users):08d}"
        uid = self._user(_name(self.rng), phone, "cadre", start - timedelta(days=5), unit=unit)
        return Post(
            id=0, cadre_id=uid, phone=phone, village=village,
            village_id=self.places.ids[village], unit_id=unit, role=role, start=start,
        )  # fmt: skip

    def finish(self, posts):
        """Number the postings (by start), give out phones and paired households."""
        rng, per_village = self.rng, {}
        households, links = [], []
        posts.sort(key=lambda p: (p.start, p.cadre_id))
        for n, post in enumerate(posts, start=1):
            post.id = n
            until = post.end or self.last
            first_day = max(post.start, self.first)
            switch = until > first_day and rng.random() < 0.04  # a new phone mid-way
            day = first_day + timedelta(rng.randrange((until - first_day).days)) if switch else None
            for since in (first_day, day) if switch else (first_day,):
                model = rng.randrange(len(PHONE_MODELS))
                device = self._device(post.cadre_id, since, until, model)
                post.phones.append((since, device, model))
            if post.role != "paired_aid":
                continue
            lat, lon = self.places.posts[post.village]
            for _ in range(rng.randint(3, 5)):
                k = per_village[post.village] = per_village.get(post.village, 0) + 1
                hid = len(households) + 1
                at = (None, None)
                if rng.random() < 0.6:  # the rest get a position on the first visit
                    at = (round(lat + rng.uniform(-0.003, 0.003), 6),
                          round(lon + rng.uniform(-0.003, 0.003), 6))  # fmt: skip
                code = f"{post.village}-{k:02d}"
                households.append((hid, post.village_id, code, _name(rng), *at))
                links.append((hid, post.cadre_id))
                post.households.append((hid, *at))
        return households, links

    def write(self, posts, households, links, ties):
        w = self.writer
        w.write(User, ("id", "name", "phone", "password_hash", "active", "jurisdiction_id")
                + ("unit_id", "home_region_id", "created_at"), self.users)  # fmt: skip
        w.write(UserRole, ("user_id", "role"), self.roles)
        columns = ("id", "user_id", "device_id", "first_seen_at", "last_seen_at")
        w.write(Device, columns, self.devices)
        w.write(
            Posting,
            ("id", "cadre_id", "village_id", "unit_id", "role", "start_date", "end_date")
            + ("status", "created_at"),
            (
                (p.id, p.cadre_id, p.village_id, p.unit_id, p.role, p.start, p.end)
                + ("ended" if p.end else "active", datetime.combine(p.start, time(2), UTC))
                for p in posts
            ),
        )
        columns = ("id", "village_id", "code", "head_name", "latitude", "longitude")
        w.write(Household, columns, households)
        w.write(household_cadre, ("household_id", "cadre_id"), links)
        columns = ("id", "inspector_id", "cadre_id", "note", "created_at")
        w.write(DeclaredRelationship, columns, ties)
