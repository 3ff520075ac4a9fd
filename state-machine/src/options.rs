//! The closed vocabularies of a job: operation, content type, compression, output format.
//! Each serialises in the seed's spelling and parses case-insensitively (so `csv` from a CLI
//! flag and `CSV` from the API both work) with a typed error listing what is accepted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

macro_rules! vocabulary {
    (
        $(#[$meta:meta])* $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The canonical spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                $( if s.eq_ignore_ascii_case($text) { return Ok(Self::$variant); } )+
                Err(ParseError::UnknownVariant {
                    what: $what,
                    value: s.to_owned(),
                    expected: Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                s.parse()
            }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str {
                v.as_str()
            }
        }
    };
}

vocabulary!(
    /// What a bulk job does.
    Operation, "operation" {
        /// Append the uploaded rows.
        Insert => "insert",
        /// Change existing rows matched on `primary_key`; unmatched rows are left alone.
        Update => "update",
        /// Insert or replace rows matched on `primary_key` (MERGE).
        Upsert => "upsert",
        /// Remove rows matched on `primary_key`.
        Delete => "delete",
        /// Export a SELECT's result with UNLOAD.
        Query => "query",
    }
);

impl Operation {
    /// Ingest operations upload data first and start `Open`; query jobs have nothing to upload.
    pub fn is_ingest(self) -> bool {
        !matches!(self, Self::Query)
    }

    /// Whether the operation matches rows on key columns.
    pub fn needs_primary_key(self) -> bool {
        matches!(self, Self::Update | Self::Upsert | Self::Delete)
    }
}

vocabulary!(
    /// Which of the two job families a message or record is about.
    JobKind, "job_kind" {
        /// A Bulk API job ([`crate::BulkJob`]).
        Bulk => "bulk",
        /// An async query job of the Job API ([`crate::QueryJob`]).
        Query => "query",
    }
);

vocabulary!(
    /// The format of uploaded data (ingest) or of exported results (query).
    ContentType, "content_type" {
        /// Comma-separated values; uploads carry a header row naming the columns.
        Csv => "CSV",
        /// Newline-delimited JSON objects.
        Json => "JSON",
        /// Apache Parquet.
        Parquet => "PARQUET",
    }
);

vocabulary!(
    /// Compression of uploaded data or exported results.
    Compression, "compression" {
        /// Plain files.
        None => "NONE",
        /// gzip-compressed files.
        Gzip => "GZIP",
    }
);

vocabulary!(
    /// How an async query job returns its result (seed 000's `output_format`).
    OutputFormat, "output_format" {
        /// Inline JSON rows through `GET /jobs/{id}/results`.
        Json => "json",
        /// A CSV file in the object store, returned as a download URL.
        Csv => "csv",
        /// A Parquet file in the object store, returned as a download URL.
        Parquet => "parquet",
    }
);

vocabulary!(
    /// Where a finished query job's result lives (seed 000's `result_location`).
    ResultLocation, "result_location" {
        /// Kept by the warehouse and paged through the API.
        Inline => "inline",
        /// Written to the object store.
        S3 => "s3",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive_and_serialises_canonically() {
        assert_eq!("csv".parse::<ContentType>().unwrap(), ContentType::Csv);
        assert_eq!(serde_json::to_string(&ContentType::Parquet).unwrap(), "\"PARQUET\"");
        assert_eq!(serde_json::from_str::<Operation>("\"UPSERT\"").unwrap(), Operation::Upsert);
        assert_eq!(serde_json::to_string(&Operation::Upsert).unwrap(), "\"upsert\"");
        assert_eq!(serde_json::to_string(&OutputFormat::Parquet).unwrap(), "\"parquet\"");
    }

    #[test]
    fn unknown_values_list_the_accepted_ones() {
        let err = "merge".parse::<Operation>().unwrap_err();
        assert_eq!(err.to_string(), "operation \"merge\" is not one of: insert, update, upsert, delete, query");
        assert!(serde_json::from_str::<Compression>("\"ZSTD\"").is_err());
    }

    #[test]
    fn operation_kinds() {
        assert!(!Operation::Query.is_ingest());
        assert!(Operation::ALL.iter().filter(|o| o.needs_primary_key()).count() == 3);
    }
}
