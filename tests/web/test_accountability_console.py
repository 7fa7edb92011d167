"""The console's dispatching-unit pages: the ranking and a unit's months show what the
accountability service computes (the API's figures), in scope, Chinese first.

The data is `tests/api/test_accountability.py`'s: unit A (county A) with a closed
January, a live February and a March half frozen by county B's closure, two absences
found, one recall and an overdue replacement; units C and D with clean records."""

import re
from html.parser import HTMLParser

import pytest

from server.extensions import db
from server.services import accountability
from server.services.ledger import local_today
from tests.api.test_accountability import PERIOD, units  # noqa: F401  (a fixture)
from tests.web.console_kit import log_in

RANKING = "/console/units/accountability"
ALERT = re.compile(r'<p class="error".*?</p>')


def unit_path(unit_id):
    return f"/console/units/{unit_id}/accountability"


class Rows(HTMLParser):
    """The text of every cell of every table row that has an id, by that id."""

    def __init__(self, html):
        super().__init__()
        self.rows, self.row, self.cell = {}, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "tr" and "id" in found:
            self.row = self.rows.setdefault(found["id"], [])
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page(response):
    return response.get_data(as_text=True)


def rate(value):
    return "–" if value is None else f"{value * 100:.1f}%"


def figures(entry):
    """The cells every table shares, as the page writes the service's numbers."""
    return [
        *(str(entry[s]) for s in accountability.STATUSES),
        rate(entry["compliance"]),
        str(entry["absences_found"]),
        str(entry["recalls"]),
        str(entry["replacements_open"]),
        str(entry["replacements_overdue"]),
        f"{entry['deduction']:g}",
    ]


LEVELS = {"county": "县级", "city": "市级"}
SOURCES = {"closed": "已关账", "live": "实时台账", "mixed": "部分关账", None: "–"}


def as_reviewer(client, user):
    assert log_in(client, user).status_code == 302
    return client


def test_the_ranking_shows_the_services_figures_best_first(client, world, units):  # noqa: F811
    as_reviewer(client, world.city_reviewer)
    response = client.get(RANKING, query_string=PERIOD)
    assert response.status_code == 200
    html = page(response)
    assert "<script>" not in html and "style=" not in html and "http" not in html
    expected = accountability.ranking(
        actor=world.city_reviewer, from_month="2026-01", to_month="2026-03"
    )["units"]
    rows = Rows(html).rows
    assert [key for key in rows if key.startswith("unit-")] == [
        f"unit-{e['unit'].id}" for e in expected
    ]
    for entry in expected:
        unit = entry["unit"]
        assert rows[f"unit-{unit.id}"] == [
            str(entry["rank"]),
            unit.name,
            f"{unit.region.name} · {LEVELS[unit.level]}",
            str(entry["postings"]),
            str(entry["posting_months"]),
            str(entry["closed_posting_months"]),
            *figures(entry),
        ]
    # Unit A comes last: 0.6 points for two absences, a recall, a replacement overdue.
    assert rows[f"unit-{world.unit_a.id}"][0] == "4"
    assert rows[f"unit-{world.unit_a.id}"][-6:] == ["50.0%", "2", "1", "1", "1", "0.6"]
    assert f'<tr id="unit-{world.unit_a.id}" class="overdue">' in html
    link = f'href="{unit_path(world.unit_a.id)}?from=2026-01&amp;to=2026-03"'
    assert link in html
    # The ranking can be narrowed to a county of the city; the choices are its counties.
    assert 'value="340421000000"' in html and 'value="340422000000"' in html
    assert RANKING in page(client.get("/console/"))  # in the navigation


def test_a_county_sees_its_own_units_and_may_narrow_only_within_it(client, world, units):  # noqa: F811
    as_reviewer(client, world.reviewer_a)
    rows = Rows(page(client.get(RANKING, query_string=PERIOD))).rows
    shown = [key for key in rows if key.startswith("unit-")]
    assert shown == [f"unit-{units['unit_c'].id}", f"unit-{world.unit_a.id}"]
    refused = client.get(RANKING, query_string={"region_code": world.county_b.code})
    assert refused.status_code == 403 and 'data-error="out_of_jurisdiction"' in page(refused)


def test_the_city_narrowed_to_county_b(client, world, units):  # noqa: F811
    as_reviewer(client, world.city_reviewer)
    query = {**PERIOD, "region_code": world.county_b.code}
    html = page(client.get(RANKING, query_string=query))
    rows = Rows(html).rows
    assert [r[1] for key, r in rows.items() if key.startswith("unit-")] == [
        "凤台县财政局",
        "寿县教育局",
        "寿县水利局",
    ]
    assert f'<option value="{world.county_b.code}" selected>' in html


def test_a_units_page_shows_each_month_its_source_and_the_total(client, world, units):  # noqa: F811
    as_reviewer(client, world.reviewer_a)
    response = client.get(unit_path(world.unit_a.id), query_string=PERIOD)
    assert response.status_code == 200
    html = page(response)
    expected = accountability.unit_report(
        actor=world.reviewer_a, unit_id=world.unit_a.id, from_month="2026-01", to_month="2026-03"
    )
    rows = Rows(html).rows
    for entry in expected["months"]:
        assert rows[f"month-{entry['month']}"] == [
            entry["month"],
            str(entry["postings"]),
            str(entry["closed_postings"]),
            SOURCES[entry["source"]],
            *figures(entry),
        ]
    assert [rows[f"month-2026-0{m}"][3] for m in (1, 2, 3)] == ["已关账", "实时台账", "部分关账"]
    total = expected["total"]
    assert rows["total"] == ["合计", "2", "2 / 4", "", *figures(total)]
    assert rows["total"][-6:] == ["50.0%", "2", "1", "1", "1", "0.6"]
    (owed,) = total["replacements"]
    assert rows[f"replacement-{owed['id']}"] == [
        str(owed["id"]),
        str(world.posting_a.id),
        "2026-03-25",
        "逾期未派",
    ]
    assert "该单位全部派驻干部" in html and "凤台县财政局" in html
    ledger = f'href="/console/ledger?month=2026-02&amp;unit={world.unit_a.id}"'
    assert ledger in html


def test_where_the_units_cadres_serve_only_those_are_shown(client, world, units):  # noqa: F811
    as_reviewer(client, world.reviewer_b)
    html = page(client.get(unit_path(world.unit_a.id), query_string=PERIOD))
    rows = Rows(html).rows
    assert [rows[f"month-2026-0{m}"][1:4] for m in (1, 2, 3)] == [
        ["0", "0", "–"],
        ["0", "0", "–"],
        ["1", "1", "已关账"],
    ]
    assert "仅限在您辖区内驻村的该单位干部" in html
    assert 'id="replacements"' not in html


def test_a_unit_out_of_reach_is_404_like_a_missing_one(client, world, units):  # noqa: F811
    as_reviewer(client, world.reviewer_b)
    hidden = client.get(unit_path(units["unit_c"].id))
    missing = client.get(unit_path(999999))
    assert hidden.status_code == missing.status_code == 404
    assert 'data-error="unit_not_found"' in page(hidden)
    assert ALERT.search(page(hidden)).group() == ALERT.search(page(missing)).group()


@pytest.mark.parametrize("role", ["cadre", "inspector"])
def test_cadres_and_inspectors_are_refused(client, world, units, role):  # noqa: F811
    as_reviewer(client, world.reviewer_a)
    world.reviewer_a.roles = [role]
    db.session.commit()
    for path in (RANKING, unit_path(world.unit_a.id)):
        response = client.get(path)
        assert response.status_code == 403 and "console_role_required" in page(response)
        assert "凤台县财政局" not in page(response)


def test_english(client, world, units):  # noqa: F811
    as_reviewer(client, world.reviewer_a)
    html = page(client.get(RANKING, query_string={**PERIOD, "lang": "en"}))
    assert "Dispatching units ranked" in html and "Absences found" in html
    assert "Smallest deduction first" in html and "county" in html
    html = page(client.get(unit_path(world.unit_a.id), query_string=PERIOD))
    assert "Month by month" in html and "Every cadre the unit sends" in html
    rows = Rows(html).rows
    assert [rows[f"month-2026-0{m}"][3] for m in (1, 2, 3)] == ["closed", "live", "partly closed"]
    assert rows["total"][0] == "Total"


def test_the_default_period_is_this_year_so_far(client, world):
    as_reviewer(client, world.reviewer_b)
    today = local_today()
    this_year = f"{today.year}-01 – {today.year}-{today.month:02d}"
    assert this_year in page(client.get(RANKING))
    html = page(client.get(unit_path(world.unit_b.id)))
    assert f'<dd id="period-shown">{this_year}</dd>' in html
    assert sum(key.startswith("month-") for key in Rows(html).rows) == today.month


@pytest.mark.parametrize(
    "query, error",
    [
        ({"from": "2026-03", "to": "2026-01"}, "invalid_period"),
        ({"from": "2024-01", "to": "2026-03"}, "period_too_long"),
        ({"to": "March"}, "validation_error"),
    ],
)
def test_a_bad_period_is_a_422_page(client, world, query, error):
    as_reviewer(client, world.reviewer_a)
    for path in (RANKING, unit_path(world.unit_a.id)):
        response = client.get(path, query_string=query)
        assert response.status_code == 422 and f'data-error="{error}"' in page(response)
