"""Settings: everything an operator sets comes from the environment (docs/configuration.md lists them)."""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.app.trace import LOG_SUCCESS
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_flag(name: str, default: bool = False) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def secret_key() -> str:
    """SECRET_KEY from the environment; else the key `make run` generated and keeps in this folder
    (`.secret_key`, never committed); else, with DEBUG on only, a development key. A server with
    DEBUG off never runs on a key everyone knows."""
    if key := env("SECRET_KEY", ""):
        return key
    local = BASE_DIR / ".secret_key"
    if local.exists():
        return local.read_text().strip()
    if DEBUG:
        return "insecure-development-key"
    raise ImproperlyConfigured("Set SECRET_KEY (DEBUG is off), or run `make run` once to generate a local key.")


DEBUG = env_flag("DEBUG")
SECRET_KEY = secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
# Behind HTTPS (HTTPS=1, as docs/security.md's production configuration sets): secure cookies, redirects
# to https and HSTS; `manage.py check --deploy` is then clean. Health and metrics stay reachable
# over plain http for load balancers and Prometheus inside the network.
HTTPS = env_flag("HTTPS")
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000" if HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")

INSTALLED_APPS = [
    "petstore.apps.PetstoreAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "core.apps.CoreConfig",  # request charsets (core/charsets.py): installed before any request
    "petstore",
    "accounts",
    "events",
    # Producers register their event types when ready, in this order: the catalog's order.
    "orders",
    "inventory",
    "webhooks",
    "warehouse",
    "portal",
]
if env_flag("BENCH"):
    INSTALLED_APPS.append("bench")  # the benchmarks' baseline endpoint, never in production

MIDDLEWARE = [
    "core.log_context.RequestIdMiddleware",
    "core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.PortalPageMiddleware",  # after X-Frame-Options: it decides that header for /portal/
]

ROOT_URLCONF = "petstore.urls"
WSGI_APPLICATION = "petstore.wsgi.application"
ASGI_APPLICATION = "petstore.asgi.application"
# Threads per web process for the synchronous API (petstore.asgi hands it every path but the stream).
WEB_THREADS = int(env("WEB_THREADS", "8"))

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(env("DATABASE_CONN_MAX_AGE", "60")),
    )
}
# PostgreSQL connections come from a pool in each process (0 turns it off, e.g. behind PgBouncer).
# Celery closes a worker's connection after every task: without a pool, each task would open one.
DATABASE_POOL_SIZE = int(env("DATABASE_POOL_SIZE", "20"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": 5}
    if DATABASE_POOL_SIZE:
        DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 1, "max_size": DATABASE_POOL_SIZE, "timeout": 10}
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # a connection goes back to the pool after each request or task
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN, so
    # concurrent stock reservations queue up instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CELERY_BROKER_URL = env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
# Rate limits and the test gateway's ledger: by default database 1 of the broker's Redis.
_BROKER_REDIS = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "redis://127.0.0.1:6379/0"
CACHES = {
    "default": {
        "BACKEND": "core.redis_pools.RedisCache",  # Django's, one client per pool
        "LOCATION": env("CACHE_URL", _BROKER_REDIS.rsplit("/", 1)[0] + "/1"),
        "KEY_PREFIX": "petstore",
        # One pool per process (`core.redis_pools`), not one per thread and per open event stream.
        "OPTIONS": {
            "socket_connect_timeout": 1,
            "socket_timeout": 1,
            "pool_class": "core.redis_pools.SharedConnectionPool",
        },
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Request bodies: larger is a 413, deeper JSON a 400 (core.parsers), before any parsing work.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env("MAX_REQUEST_BODY_BYTES", str(64 * 1024)))
JSON_MAX_DEPTH = int(env("JSON_MAX_DEPTH", "32"))

# --- Accounts ---------------------------------------------------------------------------
# A username logs in in any case or compatibility form (one name per person, `accounts.usernames`).
AUTHENTICATION_BACKENDS = ["accounts.backends.AnyFormOfTheUsernameBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins (POST /v1/auth/tokens, /admin/login/) per username from one client address, and
# per client address, within a window; beyond either, every attempt from there is a 429 until the
# window ends, even with the right password.
LOGIN_FAILURE_LIMIT_PER_USERNAME = int(env("LOGIN_FAILURE_LIMIT_PER_USERNAME", "5"))
LOGIN_FAILURE_LIMIT_PER_ADDRESS = int(env("LOGIN_FAILURE_LIMIT_PER_ADDRESS", "20"))
LOGIN_FAILURE_WINDOW = int(env("LOGIN_FAILURE_WINDOW", "900"))
# Wrong API keys per client address block within a window; beyond, a 429 before any lookup.
API_KEY_FAILURE_LIMIT = int(env("API_KEY_FAILURE_LIMIT", "20"))
API_KEY_FAILURE_WINDOW = int(env("API_KEY_FAILURE_WINDOW", "300"))
# 0: the client address is the socket's and X-Forwarded-For is ignored. N > 0: N proxies of ours
# stand in front, and the client address is the Nth X-Forwarded-For entry from the right.
TRUSTED_PROXY_COUNT = int(env("TRUSTED_PROXY_COUNT", "0"))
MAX_API_KEYS_PER_USER = int(env("MAX_API_KEYS_PER_USER", "50"))

# --- E-mail -----------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(BASE_DIR / "sent-mail"))
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_flag("EMAIL_USE_TLS")
# Seconds an SMTP server may take to answer: one that accepts and never answers costs one attempt
# (the task retries), never a worker slot for good.
EMAIL_TIMEOUT = float(env("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Petstore <orders@petstore.localhost>")

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.throttling.ApiKeyRateThrottle",
        "accounts.throttling.AnonymousRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env("API_RATE_LIMIT", "1200/min"),
        "anonymous": env("ANONYMOUS_RATE_LIMIT", "120/min"),
        # POST /v1/webhooks/{id}/test per user, besides API_RATE_LIMIT: each is an event and a delivery.
        "webhook_test": env("WEBHOOK_TEST_RATE_LIMIT", "10/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "core.pagination.CursorPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 20,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Petstore Events API",
    "DESCRIPTION": "Respond fast, process in the background, notify by webhook.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.add_problem_responses",
        "core.openapi.add_links",
        "core.openapi.require_one_of_bodies",
        "core.openapi.text_as_drf_reads_it",
    ],
    "WEBHOOKS": "events.catalog.schemas.OPENAPI_WEBHOOKS",
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "PaymentStatusEnum": "orders.models.PaymentStatus",
    },
}

# --- Orders and payments ----------------------------------------------------------------
PAYMENT_GATEWAY = env("PAYMENT_GATEWAY", "orders.payments.TestGateway")
ORDER_PAYMENT_TIMEOUT = timedelta(seconds=int(env("ORDER_PAYMENT_TIMEOUT", "900")))
# An order whose processing has not moved for this long has its next step queued again, in case
# the broker lost the task (a Redis restart without persistence, say).
ORDER_RESUME_AFTER = timedelta(seconds=int(env("ORDER_RESUME_AFTER", "120")))
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)

# --- Events -----------------------------------------------------------------------------
# The relay resends events whose dispatch was not confirmed after this long (broker down,
# worker lost); consumers are idempotent, so a second dispatch does no harm.
OUTBOX_RELAY_AFTER = timedelta(seconds=int(env("OUTBOX_RELAY_AFTER", "30")))
# Each further relay of one event waits twice as long as the last, up to this.
OUTBOX_RELAY_MAX_DELAY = timedelta(seconds=int(env("OUTBOX_RELAY_MAX_DELAY", "600")))
# The live stream (GET /v1/events/stream): open streams per user, counted across processes in
# Redis (a slot a killed process held expires after EVENT_STREAM_SLOT_TTL seconds); a comment line
# at least every EVENT_STREAM_HEARTBEAT seconds; a look at the database at least every
# EVENT_STREAM_POLL_INTERVAL seconds even with no wake-up; a client that takes no bytes for
# EVENT_STREAM_SEND_TIMEOUT seconds is disconnected.
MAX_EVENT_STREAMS_PER_USER = int(env("MAX_EVENT_STREAMS_PER_USER", "5"))
# Streams open at once in one web process, all users together (a 503 beyond): each holds a socket,
# so this keeps the process's descriptors for the API's other requests.
MAX_EVENT_STREAMS_PER_PROCESS = int(env("MAX_EVENT_STREAMS_PER_PROCESS", "500"))
EVENT_STREAM_HEARTBEAT = float(env("EVENT_STREAM_HEARTBEAT", "15"))
EVENT_STREAM_POLL_INTERVAL = float(env("EVENT_STREAM_POLL_INTERVAL", "5"))
EVENT_STREAM_SEND_TIMEOUT = float(env("EVENT_STREAM_SEND_TIMEOUT", "30"))
EVENT_STREAM_SLOT_TTL = int(env("EVENT_STREAM_SLOT_TTL", "60"))
# Dispatched events older than this, with no delivery left that refers to them, are deleted.
EVENT_RETENTION = timedelta(days=int(env("EVENT_RETENTION_DAYS", "90")))
# The event bus (RabbitMQ): unset, there is none and it costs nothing. Set, every event is also
# published to this durable topic exchange once its transaction commits, through the outbox.
EVENT_BUS_URL = env("EVENT_BUS_URL", "")
EVENT_BUS_EXCHANGE = env("EVENT_BUS_EXCHANGE", "petstore.events")
# Seconds to connect to the bus and to have a batch confirmed: an outage costs a worker at most
# this, then the process leaves the bus alone for a few seconds (the relay publishes what it missed).
EVENT_BUS_TIMEOUT = float(env("EVENT_BUS_TIMEOUT", "2"))
# The warehouse's durable queue (bound to order.completed) and how long it "picks" an order.
WAREHOUSE_QUEUE = env("WAREHOUSE_QUEUE", "warehouse.orders")
WAREHOUSE_PICK_SECONDS = float(env("WAREHOUSE_PICK_SECONDS", "2"))
# Pruning deletes this many rows per statement, hourly, until nothing is past its retention.
PRUNE_BATCH_SIZE = int(env("PRUNE_BATCH_SIZE", "1000"))

# --- Webhooks ---------------------------------------------------------------------------
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_flag("WEBHOOKS_ALLOW_PRIVATE_TARGETS")
WEBHOOK_RETRY_SCHEDULE = [
    int(seconds) for seconds in env_list("WEBHOOK_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,36000")
]
WEBHOOK_TIMEOUT = float(env("WEBHOOK_TIMEOUT", "10"))
# The ports a webhook URL may name (empty: any). Not checked with WEBHOOKS_ALLOW_PRIVATE_TARGETS,
# whose local receivers listen anywhere. Only https is allowed otherwise, so 80 is not listed.
WEBHOOK_ALLOWED_PORTS = [int(port) for port in env_list("WEBHOOK_ALLOWED_PORTS", "443,8443")]
# Seconds a webhook URL's host may take to resolve when it is saved (in the request's thread; a
# slow nameserver must not hold the API): beyond, the URL is refused with a 400.
WEBHOOK_DNS_TIMEOUT = float(env("WEBHOOK_DNS_TIMEOUT", "2"))
WEBHOOK_DISABLE_AFTER = timedelta(seconds=int(env("WEBHOOK_DISABLE_AFTER", str(5 * 24 * 3600))))
WEBHOOK_ATTEMPT_RETENTION = timedelta(days=int(env("WEBHOOK_ATTEMPT_RETENTION_DAYS", "30")))
WEBHOOK_DELIVERY_RETENTION = timedelta(days=int(env("WEBHOOK_DELIVERY_RETENTION_DAYS", "30")))
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)
# Keys that encrypt webhook signing secrets at rest: the first encrypts, all decrypt (rotation:
# put a new key first, run `manage.py reencrypt_secrets`, then drop the old one). Unset: derived
# from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", "")
# A delivery handed to the queue is not handed again for this long: enough for it to be picked
# up and sent, short enough that one lost with its worker or the broker is resent soon.
WEBHOOK_REQUEUE_AFTER = timedelta(seconds=int(env("WEBHOOK_REQUEUE_AFTER", "60")))
# A task sends up to WEBHOOK_BATCH_SIZE deliveries; a worker process has up to
# WEBHOOK_CONCURRENCY requests in flight, at most WEBHOOK_ENDPOINT_CONCURRENCY to one endpoint.
WEBHOOK_BATCH_SIZE = int(env("WEBHOOK_BATCH_SIZE", "100"))
WEBHOOK_CONCURRENCY = int(env("WEBHOOK_CONCURRENCY", "64"))
WEBHOOK_ENDPOINT_CONCURRENCY = int(env("WEBHOOK_ENDPOINT_CONCURRENCY", "10"))
# Each endpoint multiplies every one of its owner's events: a customer may subscribe this many.
MAX_WEBHOOK_ENDPOINTS_PER_USER = int(env("MAX_WEBHOOK_ENDPOINTS_PER_USER", "20"))
# The part of WEBHOOK_CONCURRENCY one owner's endpoints may hold together, however many they are
# and however slowly they answer: the rest stays free for other customers.
WEBHOOK_OWNER_SHARE = float(env("WEBHOOK_OWNER_SHARE", "0.25"))
if not 0 < WEBHOOK_OWNER_SHARE <= 1:
    raise ImproperlyConfigured("WEBHOOK_OWNER_SHARE is a fraction of WEBHOOK_CONCURRENCY, above 0 and at most 1.")

# --- The customer portal ----------------------------------------------------------------
# The origins that may frame /portal/ pages (CSP frame-ancestors), comma-separated, such as
# `https://app.example.com`; empty (the default): none, and X-Frame-Options says DENY. An http://
# origin only with DEBUG: a page served over plain HTTP can be altered on the way to frame the portal.
PORTAL_FRAME_ANCESTORS = env_list("PORTAL_FRAME_ANCESTORS", "")
for _origin in PORTAL_FRAME_ANCESTORS:
    if not re.fullmatch(r"(https?://)?(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?|'self'", _origin):
        raise ImproperlyConfigured(
            f"PORTAL_FRAME_ANCESTORS: {_origin!r} is not an origin such as https://app.example.com."
        )
    if _origin.lower().startswith("http://") and not DEBUG:
        raise ImproperlyConfigured(
            f"PORTAL_FRAME_ANCESTORS: {_origin!r} is served over plain HTTP; use its https:// origin."
        )

# --- Metrics ----------------------------------------------------------------------------
# GET /metrics answers a bearer METRICS_TOKEN if one is set, else only these client networks.
METRICS_TOKEN = env("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")

# --- Celery -----------------------------------------------------------------------------
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
# A task is acknowledged when it has finished, so a worker that dies mid-task leaves it on
# the broker for another worker; every task is idempotent for that reason.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Tasks wait on the database and the payment gateway, so threads give a process several slots
# cheaply; webhook requests wait on the sender's own threads, not here. More slots than that only
# add tasks fighting for one GIL, and every task gets slower under load (bench P2).
# Hard and soft time limits are enforced by the prefork pool only (`-P prefork`); under threads
# every wait has its own timeout (WEBHOOK_TIMEOUT, database and broker socket timeouts).
# Workers log through the LOGGING above, with the same context fields.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# What a task prints (the console e-mail backend of the run command) is information, not a warning.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
CELERY_WORKER_POOL = env("CELERY_WORKER_POOL", "threads")
CELERY_WORKER_CONCURRENCY = int(env("CELERY_WORKER_CONCURRENCY", "8"))
# With Redis an unacknowledged task returns to the queue after the visibility timeout. It must
# outlast the longest task and the longest countdown (payment retries stay under a minute;
# webhook retries wait in the database, not in the broker), and be short enough that a task
# of a killed worker is picked up again within minutes.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(env("CELERY_VISIBILITY_TIMEOUT", "300")),
    "socket_connect_timeout": 2,
    # A Redis that accepts and never answers fails a publish or a poll after this, not never.
    "socket_timeout": 10,
    # A worker takes from its queues in turn (kombu's round robin): under overload every queue
    # keeps moving, so payments never wait behind notifications without end, nor the reverse.
    "queue_order_strategy": "round_robin",
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queueing a task after commit must not hang a request while the broker is down: the outbox
# relay queues again what could not be queued.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_TASK_DEFAULT_QUEUE = "orders"
CELERY_TASK_QUEUES = [Queue("events"), Queue("orders"), Queue("webhooks")]
CELERY_TASK_ROUTES = {
    "events.*": {"queue": "events"},
    "orders.*": {"queue": "orders"},
    "inventory.*": {"queue": "orders"},
    "webhooks.*": {"queue": "webhooks"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# django-celery-beat copies this into its tables at start-up: the periodic tasks exist without
# anyone creating them by hand, and staff can see and pause them in the admin.
CELERY_BEAT_SCHEDULE = {
    "relay-outbox-events": {"task": "events.relay_undispatched_events", "schedule": 10.0},
    "resume-stalled-orders": {"task": "orders.resume_stalled_orders", "schedule": 30.0},
    "cancel-unpaid-orders": {"task": "orders.cancel_unpaid_orders", "schedule": 60.0},
    "prune-idempotency-keys": {"task": "orders.prune_idempotency_keys", "schedule": 3600.0},
    "send-due-webhook-deliveries": {"task": "webhooks.enqueue_due_deliveries", "schedule": 2.0},
    "prune-webhook-attempts": {"task": "webhooks.prune_attempts", "schedule": 3600.0},
    "prune-webhook-deliveries": {"task": "webhooks.prune_deliveries", "schedule": 3600.0},
    "prune-events": {"task": "events.prune_events", "schedule": 3600.0},
    "forget-expired-webhook-secrets": {"task": "webhooks.forget_expired_secrets", "schedule": 3600.0},
    "prune-portal-links": {"task": "portal.prune_links", "schedule": 3600.0},
}
if EVENT_BUS_URL:  # no bus, no tick
    CELERY_BEAT_SCHEDULE["relay-events-to-bus"] = {"task": "events.relay_unpublished_events", "schedule": 10.0}

# JSON lines in production; LOG_FORMAT=text for people (the run command sets it).
LOG_FORMAT = env("LOG_FORMAT", "json")
# Celery's "Task … received" and "Task … succeeded" lines, two for every task and so for every
# beat tick (every 2 s); LOG_TASK_RUNS=0 (the run command) leaves them out. Retries, failures and
# what the tasks themselves log still show.
LOG_TASK_RUNS = env_flag("LOG_TASK_RUNS", default=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "core.log_context.ContextFilter"},
        "not_a_task_success": {"()": "django.utils.log.CallbackFilter", "callback": lambda r: r.msg != LOG_SUCCESS},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(order_id)s %(event_id)s "
            "%(delivery_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s "
            "[request=%(request_id)s order=%(order_id)s event=%(event_id)s delivery=%(delivery_id)s]",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {}
    if LOG_TASK_RUNS
    else {
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"filters": ["not_a_task_success"]},
    },
}
