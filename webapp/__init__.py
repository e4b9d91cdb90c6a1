"""webapp: the Django project that wraps swapcore, provenance and detector (and hosts the CLI)."""

# The web app's parts, lowest first: a module of one imports none of the parts after it, so every dependency
# between apps points one way (tests/test_web_layout.py). `custody_log` is the installation's custody log, which
# the apps above it write; `console` holds the CLI's stages, which use the core packages and no app.
APP_ORDER = ("accounts", "custody_log", "jobs", "projects", "verify", "custody", "api", "console")
