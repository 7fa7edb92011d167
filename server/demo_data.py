"""The demo jurisdiction as data: Huainan city (淮南市) in Anhui, with plausible units and
people. Division codes and names come from the regions CSV files; what lives here is what
those files lack (coordinates, units, names, phone plan). services/demo.py holds the logic."""

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date

from server.models.regions import level_of_code

# Every demo user shares it (demo data, not secrets). Seeded as a hash, not through the
# rules for new passwords (schemas.users.validate_password), which want 10 characters.
DEMO_PASSWORD = "Demo-2026"

PROVINCE_CODE, PROVINCE_NAME = "34", "安徽省"
CITY_CODE = "3404"
SHOWCASE_COUNTY = "340421"  # 凤台县: where the printed demo log-ins come from

# Approximate county seats (WGS-84), public knowledge; townships and villages are placed
# deterministically around them, so every demo post lands inside its own county.
COUNTY_SEATS = {
    "340402": (32.631, 117.053),  # 大通区
    "340403": (32.647, 117.017),  # 田家庵区
    "340404": (32.600, 116.860),  # 谢家集区
    "340405": (32.631, 116.833),  # 八公山区
    "340406": (32.772, 116.834),  # 潘集区
    "340421": (32.709, 116.711),  # 凤台县
    "340422": (32.573, 116.787),  # 寿县
}
# How far from the seat a township centre may lie (km): subdistricts (街道) hug the town.
TOWNSHIP_KM = {"street": (0.5, 3.0), "rural": (2.0, 8.0)}
VILLAGE_KM = (0.6, 2.6)  # village post from its township centre
HOUSEHOLD_KM = (0.08, 0.4)  # a paired household from its village post

# 40 villages, roughly following where Huainan's village committees are (凤台, 寿县, 潘集
# are rural; the old mining districts have few), but at least 4 per county so every county
# reviewer has something to look at.
VILLAGES_PER_COUNTY = {
    "340402": 4,
    "340403": 4,
    "340404": 4,
    "340405": 4,
    "340406": 6,
    "340421": 9,
    "340422": 9,
}
TEAM_VILLAGES = 6  # villages with two team members beside the first secretary
AID_CADRES = 8  # paired-aid cadres, each in their own village
HOUSEHOLDS_PER_AID = (3, 4)

# Dispatching units (选派单位): name, level, home region prefix.
UNITS = (
    ("淮南市财政局", "city", "3404"),
    ("淮南市教育局", "city", "3404"),
    ("淮南市卫生健康委员会", "city", "3404"),
    ("淮南市农业农村局", "city", "3404"),
    ("国网淮南供电公司", "city", "3404"),
    ("淮南师范学院", "city", "3404"),
    ("凤台县人民医院", "county", "340421"),
    ("寿县交通运输局", "county", "340422"),
    ("潘集区农业农村水利局", "county", "340406"),
    ("谢家集区民政局", "county", "340404"),
)

# Inspectors' jurisdictions: four for the whole city, the rest for the big rural counties.
INSPECTOR_SCOPES = (
    "3404",
    "3404",
    "3404",
    "3404",
    "340421",
    "340421",
    "340422",
    "340422",
    "340406",
    "340404",
)

# Phone plan: 139 + 0554 (Huainan's area code) + a four-digit block per kind of user,
# so a phone number says who it is in a demo.
PHONE_PREFIX = "1390554"
PHONE_BLOCKS = {"admin": 1, "reviewer": 101, "inspector": 201, "cadre": 1001}

ADMIN_NAME = "系统管理员"
REVIEWER_SUFFIX = "委组织部"  # 淮南市委组织部, 凤台县委组织部, 寿县县委组织部

# Postings start within these windows (a selection round in 2025; aid pairings in 2026).
RESIDENT_START = (date(2025, 1, 6), 400)  # first day, span in days
AID_START = (date(2026, 1, 5), 45)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
    "彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金"
)
GIVEN_NAMES = (
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 斌 鹏 浩 宇 慧 "
    "桂英 秀英 建华 建国 志强 海燕 晓东 文静 春梅 红梅 玉兰 俊杰 振华 国强 立新 德明 "
    "永红 雪梅 晓峰 宏伟 亚男 婷婷 志刚 海涛 金凤 卫东 学军 玉梅 长春 守成 家宝 兴旺"
).split()


# The demo's rows, before they become models (services/demo.py plans and writes them).


@dataclass(frozen=True)
class RegionRow:
    code: str
    name: str
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class UnitRow:
    name: str
    level: str
    region_code: str


@dataclass(frozen=True)
class PersonRow:
    phone: str
    name: str
    role: str
    jurisdiction_code: str | None = None
    unit_name: str | None = None
    home_region_code: str | None = None


@dataclass(frozen=True)
class PostingRow:
    phone: str
    village_code: str
    unit_name: str
    role: str
    start_date: date


@dataclass(frozen=True)
class HouseholdRow:
    village_code: str
    code: str
    head_name: str
    cadre_phone: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class Plan:
    regions: tuple[RegionRow, ...]
    units: tuple[UnitRow, ...]
    people: tuple[PersonRow, ...]
    postings: tuple[PostingRow, ...]
    households: tuple[HouseholdRow, ...]

    def counts(self):
        levels = [level_of_code(r.code) for r in self.regions]
        roles = [p.role for p in self.people]
        return {
            "counties": levels.count("county"),
            "townships": levels.count("township"),
            "villages": levels.count("village"),
            "units": len(self.units),
            **{
                f"{role}s": roles.count(role)
                for role in ("admin", "reviewer", "inspector", "cadre")
            },
            "postings": len(self.postings),
            "households": len(self.households),
        }

    def digest(self):
        text = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def logins(self):
        """Whom to log in as in a demo: (what, name, phone, where) for a handful of users."""
        names = {r.code: r.name for r in self.regions}
        city, county = CITY_CODE.ljust(12, "0"), SHOWCASE_COUNTY.ljust(12, "0")
        rows = []
        for what, role, scope in (
            ("admin", "admin", None),
            ("city reviewer", "reviewer", city),
            ("county reviewer", "reviewer", county),
            ("inspector", "inspector", city),
        ):
            person = next(p for p in self.people if (p.role, p.jurisdiction_code) == (role, scope))
            rows.append((what, person.name, person.phone, names.get(scope, "")))
        by_phone = {p.phone: p for p in self.people}
        for role, prefix in (("first_secretary", SHOWCASE_COUNTY), ("paired_aid", "")):
            post = next(
                p for p in self.postings if p.role == role and p.village_code.startswith(prefix)
            )
            where = " ".join(names[post.village_code[:n].ljust(12, "0")] for n in (6, 9, 12))
            rows.append((role, by_phone[post.phone].name, post.phone, where))
        return rows
