"""webapp: the Django project that wraps swapcore, provenance and detector (and hosts the CLI)."""
