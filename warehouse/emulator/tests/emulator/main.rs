//! The Redshift Data API emulator: the warehouse contract through Spectra's own Data API adapter,
//! every operation through boto3, and the operations beyond the contract, on moto's S3 and
//! EventBridge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod emulator_boto3;
mod emulator_contract;
mod emulator_operations;
mod redshift_sql;
// Shared with the AWS adapters' tests; this binary uses part of it.
#[allow(dead_code)]
#[path = "../../../../adapters/aws/tests/aws/moto.rs"]
mod moto;
