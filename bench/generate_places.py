"""The generator's places: every division of Anhui from the shared regions files (their
official codes and names), village posts placed deterministically inside their county,
and the dispatching units of the province, its cities and counties.

The files carry no coordinates. City seats are public knowledge (below, WGS-84,
approximate); Huainan's county seats are the demo's; every other county seat lies at a
bearing and distance hashed from its code (districts close to the city seat, counties
and county-level cities further out), townships around their county seat and village
posts around their township, as the demo does. Positions depend on the codes alone,
never on `--seed`: the same village is always in the same place.
"""

import csv
import hashlib
import math
from dataclasses import dataclass, field

from server.demo_data import COUNTY_SEATS
from server.models import Region, Unit
from server.models.regions import DEFAULT_GEOFENCE_M
from server.services.demo import FILES

PROVINCE = "340000000000"
PROVINCE_NAME = "安徽省"
CITY_SEATS = {
    "3401": (31.820, 117.227),  # 合肥
    "3402": (31.352, 118.433),  # 芜湖
    "3403": (32.916, 117.389),  # 蚌埠
    "3404": (32.626, 116.999),  # 淮南
    "3405": (31.670, 118.506),  # 马鞍山
    "3406": (33.955, 116.798),  # 淮北
    "3407": (30.945, 117.812),  # 铜陵
    "3408": (30.543, 117.063),  # 安庆
    "3410": (29.715, 118.338),  # 黄山
    "3411": (32.302, 118.317),  # 滁州
    "3412": (32.890, 115.814),  # 阜阳
    "3413": (33.646, 116.964),  # 宿州
    "3415": (31.734, 116.520),  # 六安
    "3416": (33.845, 115.779),  # 亳州
    "3417": (30.665, 117.491),  # 池州
    "3418": (30.941, 118.759),  # 宣城
}
# km from the seat one level up: districts (01-19) and development zones (7x) hug the
# city, counties (2x) and county-level cities (8x) lie out in its territory.
COUNTY_KM = {"0": (2, 12), "1": (2, 12), "7": (5, 15), "2": (25, 60), "8": (30, 65)}
TOWNSHIP_KM = {"street": (0.5, 4.0), "rural": (3.0, 15.0)}
VILLAGE_KM = (0.6, 3.0)

PROVINCE_UNITS = (
    "安徽省财政厅",
    "安徽省教育厅",
    "安徽省卫生健康委员会",
    "安徽省农业农村厅",
    "安徽省交通运输厅",
    "安徽省自然资源厅",
    "国网安徽省电力有限公司",
    "安徽农业大学",
)
CITY_UNITS = ("财政局", "教育局", "卫生健康委员会", "农业农村局", "住房和城乡建设局", "人民医院")
COUNTY_UNITS = ("人民医院", "交通运输局", "农业农村局", "民政局")


def h(*parts):
    """A stable 64-bit number from text."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def near(origin, km_range, *parts):
    """A point at a hashed bearing and distance from `origin` (flat earth: at these
    distances the error is metres, and it is 20 times cheaper than a geodesic)."""
    low, high = km_range
    km = low + (high - low) * (h("km", *parts) % 10_000) / 10_000
    bearing = math.radians(h("bearing", *parts) % 3600 / 10)
    lat = origin[0] + km * math.cos(bearing) / 111.2
    lon = origin[1] + km * math.sin(bearing) / (111.2 * math.cos(math.radians(origin[0])))
    return round(lat, 6), round(lon, 6)


def is_rural(township_code):
    # 1xx towns (镇), 2xx townships (乡); 0xx subdistricts (街道), 4xx+ zones and farms.
    return township_code[6] in "12"


@dataclass
class Places:
    ids: dict  # 12-digit code -> region id
    names: dict  # 12-digit code -> name
    posts: dict  # village code -> (latitude, longitude)
    cities: list
    counties: list
    townships: list
    committees: list  # village committees of towns and townships: where cadres go
    units: list = field(default_factory=list)  # (unit id, level, region code)
    _near_units: dict = field(default_factory=dict)

    def units_for(self, village_code):
        """Units that may send a cadre to a village: the province's, its city's, its
        county's, as (id, level)."""
        county = village_code[:6]
        if county not in self._near_units:
            self._near_units[county] = [
                (uid, level)
                for uid, level, code in self.units
                if level == "province"
                or (level == "city" and code[:4] == county[:4])
                or (level == "county" and code[:6] == county)
            ]
        return self._near_units[county]


def _read(regions_dir):
    tables = []
    for name in FILES:
        with open(regions_dir / name, encoding="utf-8", newline="") as f:
            tables.append(list(csv.DictReader(f)))
    return tables


def _positions(counties, townships, villages):
    seats = {}
    for row in counties:
        code = row["code"]
        seats[code] = COUNTY_SEATS.get(code) or near(CITY_SEATS[code[:4]], COUNTY_KM[code[4]], code)
    centres = {}
    for row in townships:
        code = row["code"]
        km = TOWNSHIP_KM["rural" if is_rural(code) else "street"]
        centres[code] = near(seats[code[:6]], km, code)
    return {v["code"]: near(centres[v["code"][:9]], VILLAGE_KM, v["code"]) for v in villages}


def write_regions(writer, regions_dir):
    cities, counties, townships, villages = _read(regions_dir)
    posts = _positions(counties, townships, villages)
    names = {PROVINCE: PROVINCE_NAME}
    for row in cities + counties + townships + villages:
        names[row["code"].ljust(12, "0")] = row["name"]
    # Code order puts every parent before its children, so ids can be given in it.
    codes = sorted(names)
    ids = {code: n for n, code in enumerate(codes, start=1)}
    parent_digits = {"city": 2, "county": 4, "township": 6, "village": 9}

    def rows():
        for code in codes:
            digits = len(code.rstrip("0"))
            level = (
                "province" if code == PROVINCE
                else "city" if code[4:] == "00000000"
                else "county" if code[6:] == "000000"
                else "township" if code[9:] == "000"
                else "village"
            )  # fmt: skip
            parent = ids[code[: parent_digits[level]].ljust(12, "0")] if digits > 2 else None
            lat, lon = posts.get(code[:12], (None, None))
            fence = DEFAULT_GEOFENCE_M if level == "village" else None
            yield ids[code], code, names[code], level, parent, lat, lon, fence

    columns = ("id", "code", "name", "level", "parent_id", "latitude", "longitude")
    writer.write(Region, (*columns, "geofence_radius_m"), rows())
    committees = [  # villages, not urban communities (社区居委会)
        v["code"]
        for v in villages
        if v["name"].endswith(("村委会", "村民委员会")) and is_rural(v["code"][:9])
    ]
    return Places(
        ids=ids,
        names=names,
        posts=posts,
        cities=[c["code"].ljust(12, "0") for c in cities],
        counties=[c["code"].ljust(12, "0") for c in counties],
        townships=[t["code"].ljust(12, "0") for t in townships],
        committees=committees,
    )


def write_units(writer, places):
    rows = [(name, "province", PROVINCE) for name in PROVINCE_UNITS]
    for city in places.cities:
        rows += [(places.names[city] + suffix, "city", city) for suffix in CITY_UNITS]
    for county in places.counties:
        name = places.names[county]
        # A development zone sends from its administrative committee, not a hospital.
        suffixes = ("管理委员会",) if county[4] == "7" else COUNTY_UNITS
        rows += [(name + suffix, "county", county) for suffix in suffixes]
    places.units = [(n, level, code) for n, (_, level, code) in enumerate(rows, start=1)]
    writer.write(
        Unit,
        ("id", "name", "level", "region_id"),
        ((n, name, level, places.ids[code]) for n, (name, level, code) in enumerate(rows, 1)),
    )
