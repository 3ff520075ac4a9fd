//! The AWS adapters beyond their unit tests: the port contracts on moto's server, the Data API
//! adapter request by request, and the CloudFormation template as deployed on moto.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_contract;
mod aws_redshift_data;
mod aws_template;
mod moto;
