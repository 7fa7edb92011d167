"""One page of a service's select(), for the console's long lists."""

from dataclasses import dataclass

from sqlalchemy import func, select

from server.extensions import db

PAGE_SIZE = 50


@dataclass
class Page:
    items: list
    number: int
    total: int

    @property
    def pages(self):
        return max(1, -(-self.total // PAGE_SIZE))


def page_of(stmt, number):
    total = db.session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    ).scalar_one()
    items = db.session.execute(stmt.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)).scalars()
    return Page(items.all(), number, total)
