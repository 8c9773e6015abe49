"""Exports metrics to Watchfire's OTLP receiver with the OpenTelemetry
Python SDK and its OTLP/HTTP exporter (protobuf), then sends one delta
counter through the SDK's own encoder and prints the receiver's
partial_success message.

Usage: otlp_export.py ENDPOINT
"""
import sys

import requests
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

endpoint = sys.argv[1]
resource = Resource.create(
    {
        "service.name": "checkout",
        "service.namespace": "shop",
        "service.instance.id": "i-1",
        "deployment.environment": "test",
    }
)
reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint), export_interval_millis=600_000)
views = [View(instrument_name="http.server.duration", aggregation=ExplicitBucketHistogramAggregation([5, 10, 100]))]
provider = MeterProvider(resource=resource, metric_readers=[reader], views=views)
meter = provider.get_meter("shop.checkout", "1.2.3")

requests_counter = meter.create_counter("requests", unit="{request}")
requests_counter.add(3, {"route": "/pay"})
requests_counter.add(2, {"route": "/pay"})
queue = meter.create_up_down_counter("queue.depth", unit="{item}")
queue.add(7)
queue.add(-2)
meter.create_observable_gauge(
    "cpu.utilization", unit="1", callbacks=[lambda options: [Observation(0.25, {"cpu": "0"})]]
)
hist = meter.create_histogram("http.server.duration", unit="ms")
for v in (1, 7, 7, 50, 500):
    hist.record(v, {"route": "/pay"})
provider.force_flush()
provider.shutdown()

# A delta counter, encoded by the SDK, posted as its exporter would.
delta_reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
delta_provider = MeterProvider(resource=resource, metric_readers=[delta_reader])
delta_provider.get_meter("shop.checkout").create_counter("refunds").add(1)
data = delta_reader.get_metrics_data()
body = encode_metrics(data).SerializeToString()
r = requests.post(endpoint, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)
resp = ExportMetricsServiceResponse()
resp.ParseFromString(r.content)
print(f"delta: {r.status_code} {resp.partial_success.rejected_data_points} {resp.partial_success.error_message}")
