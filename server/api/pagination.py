"""Paging a SQLAlchemy select() with flask-smorest's pagination headers (X-Pagination)."""

from flask_smorest import Page
from sqlalchemy import func, select

from server.extensions import db


class SelectPage(Page):
    """Counts with SQL and fetches one page with LIMIT/OFFSET."""

    @property
    def item_count(self):
        count = select(func.count()).select_from(self.collection.order_by(None).subquery())
        return db.session.execute(count).scalar_one()

    @property
    def items(self):
        if self.page_params.first_item >= MAX_OFFSET:
            return []  # far past any real list, and past what OFFSET can hold
        stmt = self.collection.limit(self.page_params.page_size).offset(self.page_params.first_item)
        return db.session.execute(stmt).scalars().all()


MAX_OFFSET = 2**31 - 1
PAGE_ARGS = {"page_size": 20, "max_page_size": 200}
