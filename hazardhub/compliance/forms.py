"""The compliance pages take no form: the matrix and its export read only ``?month=`` and
``?unit_id=`` (checked in the views, a bad value falls back to the current month and the user's
own units). The module is here so that every area keeps the same files (#13): a form of this area
belongs here, not in views.py."""
from __future__ import annotations
