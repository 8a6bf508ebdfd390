from django.core.exceptions import ValidationError as InvalidValue
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError


class CursorPagination(pagination.CursorPagination):
    """Newest first; ids are time-ordered UUIDs, so they make a stable, unique cursor.

    `limit` is an integer from 1 to `max_page_size`, as the schema says; anything else is a 400
    (DRF would quietly fall back to the default page size). A `cursor` this API did not make is a
    400 too: DRF answers 404 for one it cannot decode, and a decodable one whose position is not an
    id (`p=not-a-uuid`) would reach the database and fail there."""

    ordering = "-id"
    page_size_query_param = "limit"
    max_page_size = 100

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (len(raw) <= 3 and raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError({self.page_size_query_param: [f"Send an integer from 1 to {self.max_page_size}."]})
        return int(raw)

    def paginate_queryset(self, queryset, request, view=None):
        self.position_field = queryset.model._meta.get_field(self.ordering.lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                self.position_field.to_python(cursor.position)
        except (NotFound, InvalidValue) as error:
            message = "This is not a cursor this API gave: follow a list's `next` or `previous` link."
            raise ValidationError({self.cursor_query_param: [message]}) from error
        return cursor

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters
