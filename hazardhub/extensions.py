"""Flask extensions, created unbound; ``create_app`` binds them; and the one way operations end
the session's unit of work (:func:`commit_or_raise`), which needs the bound ``db``."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask_bootstrap import Bootstrap5
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf import CSRFProtect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from hazardhub.db import Base


class HazardSession(FlaskSession):
    """Flask-SQLAlchemy's session, but an explicit ``bind`` (a Connection) wins.

    Flask-SQLAlchemy picks the engine by bind key and ignores ``Session.bind``; honouring it
    lets the test suite run each test inside one outer transaction (savepoint per commit).
    """

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and self.bind is not None:
            return self.bind
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


db = SQLAlchemy(model_class=Base, session_options={"class_": HazardSession})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
bootstrap = Bootstrap5()


@contextmanager
def _domain_errors(stale: Exception, conflict: Exception) -> Iterator[None]:
    """Map a lost optimistic lock (someone saved first) and a constraint violation to the
    caller's Chinese domain errors, rolling the session back first."""
    try:
        yield
    except StaleDataError as exc:
        db.session.rollback()
        raise stale from exc
    except IntegrityError as exc:
        db.session.rollback()
        raise conflict from exc


def flush_or_raise(stale: Exception, conflict: Exception) -> None:
    """Flush mid-operation with the same mapping as :func:`commit_or_raise`: an UPDATE guarded by
    ``version_id`` that matches no row means someone saved first (PostgreSQL lets two requests
    read the same version; the second UPDATE finds nothing)."""
    with _domain_errors(stale, conflict):
        db.session.flush()


def commit_or_raise(stale: Exception, conflict: Exception) -> None:
    """Commit the request's session; on a lost optimistic lock (someone saved first) or a
    constraint violation, roll back and raise the caller's Chinese domain error instead.

    One place for what every ``operations`` module needs after a state change.
    """
    with _domain_errors(stale, conflict):
        db.session.commit()
