from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API keys"

    def ready(self) -> None:
        from accounts import receivers, schema  # noqa: F401 - receivers: forget cached keys; schema: OpenAPI
