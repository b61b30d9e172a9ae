"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""
import gc

from hazardhub import create_app

app = create_app()
# What create_app built (mappers, Continuum's version classes, compiled templates) lives as long as
# the process: move it out of the collector's generations, so the cyclic GC that object-heavy pages
# trigger stops rescanning it every time (README "Performance": the compliance matrix spent a
# third of its time in collections).
gc.freeze()
