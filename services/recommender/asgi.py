"""The ASGI application Hypercorn's workers import (`services.recommender.asgi:app`)."""

from components.config import load_settings
from services.recommender.app import create_app

app = create_app(load_settings())
