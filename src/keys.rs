//! `spectra keys create|revoke`: API keys for the REST API, on the data directory (`spectra up`)
//! or, with `--aws`, in the AWS job table (`spectra api`).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use spectra_state_machine::TenantId;
use spectra_worker::embedded::{JOBS_FILE, SqliteKeyStore};
use spectra_worker::ports::{KeyStore, mint_key};

use crate::cli::{AwsArgs, KeysCmd};

async fn store(data_dir: &Path, aws: bool, config: &AwsArgs) -> anyhow::Result<Box<dyn KeyStore>> {
    if aws {
        return Ok(Box::new(crate::aws_mode::key_store(config).await?));
    }
    tokio::fs::create_dir_all(data_dir).await.with_context(|| format!("creating {}", data_dir.display()))?;
    Ok(Box::new(SqliteKeyStore::open(&data_dir.join(JOBS_FILE)).await?))
}

/// Runs `spectra keys ...`.
pub async fn run(command: KeysCmd) -> anyhow::Result<bool> {
    match command {
        KeysCmd::Create { tenant, data_dir, aws, config } => {
            let tenant = TenantId::parse(&tenant).with_context(|| format!("--tenant {tenant:?}"))?;
            let minted = mint_key(&tenant);
            store(&data_dir, aws, &config).await?.put(&minted.record).await?;
            writeln!(
                std::io::stderr().lock(),
                "key id {} for tenant {tenant} (revoke with: spectra keys revoke {}{})",
                minted.record.key_id,
                minted.record.key_id,
                if aws { " --aws" } else { "" }
            )?;
            writeln!(std::io::stdout().lock(), "{}", minted.key)?;
            Ok(true)
        }
        KeysCmd::Revoke { key_id, data_dir, aws, config } => {
            if !store(&data_dir, aws, &config).await?.revoke(&key_id).await? {
                bail!("no active key with id {key_id}");
            }
            writeln!(std::io::stdout().lock(), "revoked {key_id}")?;
            Ok(true)
        }
    }
}
