from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Newest first; ids are time-ordered UUIDs, so they make a stable, unique cursor."""

    ordering = "-id"
    page_size_query_param = "limit"
    max_page_size = 100
