import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petstore.settings")

from petstore import tracing

# Before the application loads its middleware: the request's span wraps all of it. gunicorn imports
# this module in each worker process, after the fork.
tracing.setup(service_name="petstore-api")
application = get_wsgi_application()
