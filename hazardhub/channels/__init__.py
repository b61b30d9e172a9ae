"""Channels: notices delivered outside HazardHub (企业微信 and 钉钉 group robots, email, SMS) and a
daily digest, each delivery a job with its outcome kept (issue #16).

Why a package of its own: everything that talks to the outside world is an adapter behind one
small interface (``adapters``), called from a job (``worker.channels``), never from a request. The
rest of the product only creates notices (``hazardhub.notifications.operations.notify``); that one
place plans a delivery row per (notice, channel, recipient) here.
"""
