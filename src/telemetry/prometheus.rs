//! OpenTelemetry metrics in the Prometheus text exposition format (0.0.4), named as the
//! OpenTelemetry-to-Prometheus compatibility rules say: dots become underscores, the unit is a
//! suffix (`_seconds`; annotations like `{job}` add none), monotonic sums end in `_total`.

use std::fmt::Write;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Histogram, Metric, MetricData, ResourceMetrics, Sum};

/// Renders every metric of `collected`.
pub(super) fn render(collected: &ResourceMetrics) -> String {
    let mut out = String::new();
    for scope in collected.scope_metrics() {
        for metric in scope.metrics() {
            match metric.data() {
                AggregatedMetrics::U64(data) => family(&mut out, metric, data),
                AggregatedMetrics::I64(data) => family(&mut out, metric, data),
                AggregatedMetrics::F64(data) => family(&mut out, metric, data),
            }
        }
    }
    out
}

/// A value as Prometheus writes numbers.
trait Number: Copy {
    fn text(self) -> String;
}

impl Number for u64 {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Number for i64 {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Number for f64 {
    fn text(self) -> String {
        if self.is_nan() {
            "NaN".into()
        } else if self.is_infinite() {
            if self > 0.0 { "+Inf".into() } else { "-Inf".into() }
        } else {
            self.to_string()
        }
    }
}

fn family<T: Number>(out: &mut String, metric: &Metric, data: &MetricData<T>) {
    let base = base_name(metric);
    match data {
        MetricData::Sum(sum) => sum_family(out, metric, &base, sum),
        MetricData::Gauge(gauge) => {
            header(out, &base, metric.description(), "gauge");
            for point in gauge.data_points() {
                sample(out, &base, &labels(point.attributes(), None), point.value().text());
            }
        }
        MetricData::Histogram(histogram) => histogram_family(out, metric, &base, histogram),
        // Not used by Spectra's instruments; an exponential histogram has no classic form.
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn sum_family<T: Number>(out: &mut String, metric: &Metric, base: &str, sum: &Sum<T>) {
    let (name, kind) =
        if sum.is_monotonic() { (format!("{base}_total"), "counter") } else { (base.to_owned(), "gauge") };
    header(out, &name, metric.description(), kind);
    for point in sum.data_points() {
        sample(out, &name, &labels(point.attributes(), None), point.value().text());
    }
}

fn histogram_family<T: Number>(out: &mut String, metric: &Metric, base: &str, histogram: &Histogram<T>) {
    header(out, base, metric.description(), "histogram");
    for point in histogram.data_points() {
        let mut cumulative = 0u64;
        let counts: Vec<u64> = point.bucket_counts().collect();
        for (bound, count) in point.bounds().zip(&counts) {
            cumulative += count;
            let le = labels(point.attributes(), Some(&bound.text()));
            sample(out, &format!("{base}_bucket"), &le, cumulative.to_string());
        }
        let le = labels(point.attributes(), Some("+Inf"));
        sample(out, &format!("{base}_bucket"), &le, point.count().to_string());
        let plain = labels(point.attributes(), None);
        sample(out, &format!("{base}_sum"), &plain, point.sum().text());
        sample(out, &format!("{base}_count"), &plain, point.count().to_string());
    }
}

/// The metric's name with its unit suffix.
fn base_name(metric: &Metric) -> String {
    let name = sanitize(metric.name());
    let unit = match metric.unit() {
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        "1" => "ratio",
        _ => "",
    };
    if unit.is_empty() || name.ends_with(unit) { name } else { format!("{name}_{unit}") }
}

/// A name or label key: `[a-zA-Z_:][a-zA-Z0-9_:]*`, anything else an underscore.
fn sanitize(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: String) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

/// `{key="value",...}` (with `le` last, for a bucket); empty when there are none.
fn labels<'a>(attributes: impl Iterator<Item = &'a KeyValue>, le: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> =
        attributes.map(|kv| (sanitize(kv.key.as_str()), kv.value.as_str().into_owned())).collect();
    pairs.sort();
    if let Some(le) = le {
        pairs.push(("le".into(), le.into()));
    }
    if pairs.is_empty() {
        return String::new();
    }
    let escaped: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{{{}}}", escaped.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_their_unit_and_kind_suffixes_and_labels_are_escaped() {
        assert_eq!(sanitize("http.server.request.duration"), "http_server_request_duration");
        assert_eq!(sanitize("9lives"), "_9lives");
        let kv = [KeyValue::new("http.route", "/v1/\"x\"\n"), KeyValue::new("a", "b")];
        assert_eq!(labels(kv.iter(), Some("0.5")), r#"{a="b",http_route="/v1/\"x\"\n",le="0.5"}"#);
        assert_eq!(labels([].iter(), None), "");
        assert_eq!(f64::INFINITY.text(), "+Inf");
    }
}
