from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.models import BenchRow


class RowSerializer(serializers.ModelSerializer):
    class Meta:
        model = BenchRow
        fields = ["id", "payload", "created_at"]


class BareInsertView(APIView):
    """P1's baseline: DRF, JSON in and out, one INSERT, nothing else."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request):
        row = BenchRow.objects.create(payload=request.data)
        return Response(RowSerializer(row).data, status=status.HTTP_201_CREATED)
