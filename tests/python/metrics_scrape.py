"""Scrapes a Prometheus text endpoint and parses it with the Prometheus project's own Python
parser (prometheus_client), printing every sample as JSON: [{"name", "labels", "value"}].

    metrics_scrape.py http://127.0.0.1:8080/metrics
"""

import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
    text = response.read().decode("utf-8")
samples = [
    {"name": s.name, "labels": s.labels, "value": s.value, "type": family.type}
    for family in text_string_to_metric_families(text)
    for s in family.samples
]
json.dump(samples, sys.stdout)
