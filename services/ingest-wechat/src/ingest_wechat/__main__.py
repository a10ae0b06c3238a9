from shared.serve import serve

from .settings import get_settings

settings = get_settings()
serve("ingest_wechat.main:create_app", settings, port=settings.port)
