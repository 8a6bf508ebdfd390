from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core.charsets import read_requests_in_text_charsets_only

        read_requests_in_text_charsets_only()  # before the first request is built, under any server
