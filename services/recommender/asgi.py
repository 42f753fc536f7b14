"""The ASGI application Hypercorn's workers import (`services.recommender.asgi:app`)."""

from components.config import load_settings
from components.logs import configure_logging
from services.recommender.app import create_app

settings = load_settings()
configure_logging(settings.log, "recommender")  # each worker process logs as configured
app = create_app(settings)
