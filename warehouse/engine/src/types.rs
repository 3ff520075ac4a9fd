//! DuckDB values and types as the Data API shows them: `Field` unions and Redshift type names.

use chrono::{DateTime, NaiveDate, NaiveTime};
use duckdb::arrow::datatypes::DataType;
use duckdb::types::{TimeUnit, Value, ValueRef};

use spectra_worker::ports::{ColumnMetadata, Field};

/// The Redshift name of a DuckDB result type, with precision and scale where they apply.
pub(crate) fn redshift_type(data_type: &DataType) -> (&'static str, i32, i32) {
    match data_type {
        DataType::Boolean => ("bool", 1, 0),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => ("int2", 5, 0),
        DataType::Int32 | DataType::UInt16 => ("int4", 10, 0),
        DataType::Int64 | DataType::UInt32 => ("int8", 19, 0),
        DataType::UInt64 => ("numeric", 20, 0),
        DataType::Float16 | DataType::Float32 => ("float4", 8, 0),
        DataType::Float64 => ("float8", 17, 0),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => ("numeric", i32::from(*p), i32::from(*s)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ("varchar", 65535, 0),
        DataType::Date32 | DataType::Date64 => ("date", 13, 0),
        DataType::Timestamp(_, Some(_)) => ("timestamptz", 35, 6),
        DataType::Timestamp(_, None) => ("timestamp", 29, 6),
        DataType::Time32(_) | DataType::Time64(_) => ("time", 15, 6),
        DataType::Binary | DataType::LargeBinary | DataType::FixedSizeBinary(_) | DataType::BinaryView => {
            ("varbyte", 65535, 0)
        }
        DataType::Interval(_) | DataType::Duration(_) => ("interval", 0, 0),
        _ => ("super", 0, 0),
    }
}

/// Column metadata for a result.
pub(crate) fn column(name: &str, data_type: &DataType) -> ColumnMetadata {
    let (type_name, precision, scale) = redshift_type(data_type);
    ColumnMetadata {
        name: name.to_owned(),
        label: name.to_owned(),
        type_name: type_name.to_owned(),
        nullable: 1,
        precision,
        scale,
    }
}

fn micros(unit: TimeUnit, value: i64) -> i64 {
    match unit {
        TimeUnit::Second => value.saturating_mul(1_000_000),
        TimeUnit::Millisecond => value.saturating_mul(1_000),
        TimeUnit::Microsecond => value,
        TimeUnit::Nanosecond => value / 1_000,
    }
}

/// One value as a `Field`: integers as `longValue`, floats as `doubleValue`, decimals, dates and
/// times as `stringValue` (as the Data API renders them), bytes as `blobValue`.
pub(crate) fn field(value: ValueRef<'_>) -> Field {
    match value {
        ValueRef::Null => Field::IsNull,
        ValueRef::Boolean(b) => Field::Boolean(b),
        ValueRef::TinyInt(v) => Field::Long(i64::from(v)),
        ValueRef::SmallInt(v) => Field::Long(i64::from(v)),
        ValueRef::Int(v) => Field::Long(i64::from(v)),
        ValueRef::BigInt(v) => Field::Long(v),
        ValueRef::UTinyInt(v) => Field::Long(i64::from(v)),
        ValueRef::USmallInt(v) => Field::Long(i64::from(v)),
        ValueRef::UInt(v) => Field::Long(i64::from(v)),
        ValueRef::UBigInt(v) => i64::try_from(v).map_or_else(|_| Field::String(v.to_string()), Field::Long),
        ValueRef::HugeInt(v) => i64::try_from(v).map_or_else(|_| Field::String(v.to_string()), Field::Long),
        ValueRef::UHugeInt(v) => i64::try_from(v).map_or_else(|_| Field::String(v.to_string()), Field::Long),
        ValueRef::Float(v) => Field::Double(f64::from(v)),
        ValueRef::Double(v) => Field::Double(v),
        ValueRef::Decimal(d) => Field::String(d.to_string()),
        ValueRef::Text(bytes) => Field::String(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) | ValueRef::Geometry(bytes) => Field::Blob(bytes.to_vec()),
        ValueRef::Date32(days) => Field::String(
            NaiveDate::from_num_days_from_ce_opt(days + 719_163).map_or_else(|| days.to_string(), |d| d.to_string()),
        ),
        ValueRef::Timestamp(unit, v) => {
            let us = micros(unit, v);
            Field::String(
                DateTime::from_timestamp_micros(us)
                    .map_or_else(|| us.to_string(), |t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            )
        }
        ValueRef::Time64(unit, v) => {
            let us = micros(unit, v);
            let secs = u32::try_from(us.div_euclid(1_000_000)).unwrap_or(0);
            let nanos = u32::try_from(us.rem_euclid(1_000_000) * 1_000).unwrap_or(0);
            Field::String(
                NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
                    .map_or_else(|| us.to_string(), |t| t.to_string()),
            )
        }
        ValueRef::Interval { months, days, nanos } => Field::String(format!("{months} mons {days} days {nanos} ns")),
        other => match other.to_owned() {
            Value::Enum(label) => Field::String(label),
            nested @ (Value::List(_) | Value::Array(_) | Value::Struct(_) | Value::Map(_) | Value::Union(_)) => {
                Field::String(nested_json(&nested).to_string())
            }
            unknown => Field::String(format!("{unknown:?}")),
        },
    }
}

/// A nested value as JSON text, as the Data API returns Redshift's SUPER: lists and arrays as
/// arrays, structs as objects, maps as arrays of `{"key", "value"}` (their keys need not be
/// text), a union as its member's value.
fn nested_json(value: &Value) -> serde_json::Value {
    match value {
        Value::List(items) | Value::Array(items) => serde_json::Value::Array(items.iter().map(nested_json).collect()),
        Value::Struct(fields) => {
            serde_json::Value::Object(fields.iter().map(|(name, v)| (name.clone(), nested_json(v))).collect())
        }
        Value::Map(entries) => serde_json::Value::Array(
            entries.iter().map(|(k, v)| serde_json::json!({"key": nested_json(k), "value": nested_json(v)})).collect(),
        ),
        Value::Union(member) => nested_json(member),
        Value::Enum(label) => serde_json::Value::String(label.clone()),
        scalar => field(ValueRef::from(scalar)).to_json(),
    }
}

/// A rough size of a field in bytes, to enforce the Data API's cap on stored results.
pub(crate) fn approx_size(field: &Field) -> usize {
    match field {
        Field::String(s) => s.len() + 8,
        Field::Blob(b) => b.len() + 8,
        _ => 8,
    }
}
