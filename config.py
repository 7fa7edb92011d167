"""Configuration, read from the environment.

Pick a class with APP_CONFIG (development, testing, production); every value can be
overridden by an environment variable of the same name.
"""

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSECURE_SECRET = "dev-only-insecure-secret-change-me"


def _env(name, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def _database_url(default_sqlite_name):
    url = _env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / default_sqlite_name}")
    # Heroku-style URLs and plain postgresql:// both mean psycopg 3 for us.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    SECRET_KEY = _env("SECRET_KEY", INSECURE_SECRET)
    SQLALCHEMY_DATABASE_URI = _database_url("cadre.db")
    # hide_parameters: error messages must not carry values (password hashes, phones).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    UPLOAD_DIR = _env("UPLOAD_DIR", str(BASE_DIR / "uploads"))
    # Evidence store (server/storage/): "local" keeps it in UPLOAD_DIR; "s3" in an
    # S3-compatible bucket, with credentials from the standard AWS variables
    # (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or any other source boto3 reads.
    STORAGE_BACKEND = _env("STORAGE_BACKEND", "local")
    S3_BUCKET = _env("S3_BUCKET")
    S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL")  # unset: AWS itself; else MinIO, Ceph, OSS...
    S3_REGION = _env("S3_REGION")
    S3_PREFIX = _env("S3_PREFIX", "")  # several deployments can share one bucket

    # Whole request: three 20 MB photos plus form fields. JSON bodies get a tighter cap.
    MAX_CONTENT_LENGTH = int(_env("MAX_CONTENT_LENGTH", 64 * 1024 * 1024))
    MAX_JSON_BYTES = int(_env("MAX_JSON_BYTES", 1024 * 1024))
    MAX_ROSTER_BYTES = int(_env("MAX_ROSTER_BYTES", 10 * 1024 * 1024))
    MAX_ROSTER_ROWS = int(_env("MAX_ROSTER_ROWS", 20000))

    MAX_PHOTO_BYTES = int(_env("MAX_PHOTO_BYTES", 20 * 1024 * 1024))
    # Refused before decoding: a header can claim billions of pixels (decompression bomb).
    # PNG and HEIC decode at full size (4-8 bytes a pixel; WebP needs twice that and gets
    # half the pixels), so this bounds the memory one upload can take (~500 MB at 64 MP);
    # phones' normal modes are 12-50 MP.
    MAX_PHOTO_PIXELS = int(_env("MAX_PHOTO_PIXELS", 64_000_000))

    ACCESS_TOKEN_TTL = timedelta(minutes=int(_env("ACCESS_TOKEN_MINUTES", 15)))
    REFRESH_TOKEN_TTL = timedelta(days=int(_env("REFRESH_TOKEN_DAYS", 30)))
    # Argon2id parameters (RFC 9106 "second recommended" option is t=3, m=64 MiB).
    ARGON2_TIME_COST = int(_env("ARGON2_TIME_COST", 3))
    ARGON2_MEMORY_COST = int(_env("ARGON2_MEMORY_COST", 65536))

    # Log-in lock-out per phone number (SECURITY.md): after LOGIN_LOCKOUT_AFTER failures
    # in a row the number is locked for LOGIN_LOCKOUT_SECONDS, doubling with each further
    # lock-out up to LOGIN_LOCKOUT_MAX_SECONDS; a quiet day forgets the history.
    LOGIN_LOCKOUT_AFTER = int(_env("LOGIN_LOCKOUT_AFTER", 5))
    LOGIN_LOCKOUT_SECONDS = int(_env("LOGIN_LOCKOUT_SECONDS", 60))
    LOGIN_LOCKOUT_MAX_SECONDS = int(_env("LOGIN_LOCKOUT_MAX_SECONDS", 3600))
    LOGIN_FAILURES_FORGOTTEN_AFTER = timedelta(hours=int(_env("LOGIN_FAILURES_FORGET_HOURS", 24)))

    # Rate limits (Flask-Limiter, server/ratelimits.py), "N per minute;M per hour". Counted
    # in this process's memory unless REDIS_URL is set: with several workers or servers,
    # set it, or each counts on its own. Addresses are per client: behind a load balancer
    # set TRUSTED_PROXIES to the number of proxies that append to X-Forwarded-For.
    RATE_LIMITS_ENABLED = _env("RATE_LIMITS_ENABLED", "1") == "1"
    # Per phone number typed, API and console together.
    RATE_LIMIT_LOGIN_PER_PHONE = _env("RATE_LIMIT_LOGIN_PER_PHONE", "10 per minute;30 per hour")
    # Generous: a carrier's NAT or a training hall puts many phones behind one address.
    RATE_LIMIT_LOGIN_PER_ADDRESS = _env(
        "RATE_LIMIT_LOGIN_PER_ADDRESS", "60 per minute;600 per hour"
    )
    RATE_LIMIT_REFRESH_PER_ADDRESS = _env("RATE_LIMIT_REFRESH_PER_ADDRESS", "300 per minute")
    # Check-ins and batches together; a week offline still syncs in one batch of 50.
    RATE_LIMIT_UPLOADS_PER_USER = _env("RATE_LIMIT_UPLOADS_PER_USER", "20 per minute;200 per hour")
    TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", 0))
    RATELIMIT_STORAGE_URI = _env("REDIS_URL", "memory://")
    # Our own prefix in a Redis that other software may share.
    RATELIMIT_STORAGE_OPTIONS = {"key_prefix": _env("RATELIMIT_KEY_PREFIX", "cadre-limits")}
    # Exact windows (a list of hit times per key): the limits are small numbers, so a
    # fixed window's double burst at its edge would matter.
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_HEADERS_ENABLED = True  # Retry-After on a 429, X-RateLimit-* otherwise
    # Redis down: count in memory per process rather than refuse every log-in.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True

    TIMEZONE = _env("TIMEZONE", "Asia/Shanghai")
    # Evidence older than this loses positions and photo bytes (`flask retention purge`,
    # server/services/retention.py); three years, a leap day included.
    RETENTION_DAYS = int(_env("RETENTION_DAYS", 1096))
    # The review console's log-in cookie (the API uses bearer tokens, not cookies).
    SESSION_COOKIE_NAME = "console_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "0") == "1"
    # Strict-Transport-Security max-age in seconds; 0 sends none (plain-HTTP development).
    HSTS_SECONDS = int(_env("HSTS_SECONDS", 0))

    LOG_LEVEL = _env("LOG_LEVEL", "INFO")

    API_TITLE = "Village cadre attendance and inspection API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    # Served by the app itself (swagger-ui-bundle): government intranets often have no
    # internet access, so the docs must not depend on a CDN.
    OPENAPI_SWAGGER_UI_URL = _env("OPENAPI_SWAGGER_UI_URL", "/api/docs/assets/")
    API_SPEC_OPTIONS = {
        "info": {
            "description": (
                "Attendance, verification and random inspection of village-resident cadres. "
                "Every error has the shape {code, status, error, message, message_zh, errors}; "
                "`error` is a stable machine code. Coordinates are WGS-84 decimal degrees: "
                "clients using Chinese map SDKs must convert GCJ-02 to WGS-84 before sending."
            )
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
    }


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", "sqlite://")
    # Cheap hashing keeps the suite fast; production parameters are tested separately.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    LOG_LEVEL = "WARNING"
    # The suite logs in hundreds of times from one address; tests/api/test_rate_limits.py
    # turns the limits on for itself (memory and Redis).
    RATE_LIMITS_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"


class ProductionConfig(Config):
    # Served over HTTPS: the console cookie never travels in clear text.
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "1") == "1"
    # Browsers then refuse plain HTTP to this host for a year, even on a first typed URL.
    HSTS_SECONDS = int(_env("HSTS_SECONDS", 365 * 24 * 3600))

    @classmethod
    def check(cls):
        if cls.SECRET_KEY == INSECURE_SECRET or len(cls.SECRET_KEY) < 32:
            raise RuntimeError("Refusing to start: set SECRET_KEY (32+ random characters).")
        if not os.environ.get("DATABASE_URL"):
            raise RuntimeError("Refusing to start: set DATABASE_URL.")
        if cls.STORAGE_BACKEND not in ("local", "s3"):
            raise RuntimeError("Refusing to start: STORAGE_BACKEND must be local or s3.")
        if cls.STORAGE_BACKEND == "s3" and not cls.S3_BUCKET:
            raise RuntimeError("Refusing to start: STORAGE_BACKEND=s3 needs S3_BUCKET.")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
