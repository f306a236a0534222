"""Imports every model module so that ``Base.metadata`` knows all tables (Alembic's target)."""

from __future__ import annotations

from cds_service.db import feedback  # noqa: F401
from cds_service.db.base import Base
from cds_service.worklist import models as _worklist  # noqa: F401

metadata = Base.metadata
