"""Flask extensions, created unbound; ``create_app`` binds them."""
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf import CSRFProtect

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
