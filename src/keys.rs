//! `spectra keys create|revoke`: API keys for the REST API, on the data directory (`spectra up`)
//! or, with `--aws`, in the AWS job table (`spectra api`).

use std::io::Write;

use anyhow::{Context, bail};
use spectra_state_machine::TenantId;
use spectra_worker::embedded::{JOBS_FILE, SqliteKeyStore};
use spectra_worker::ports::{KeyStore, mint_key};

use crate::cli::{KeyStoreArgs, KeysCmd};

async fn open(args: &KeyStoreArgs) -> anyhow::Result<Box<dyn KeyStore>> {
    if args.aws {
        return Ok(Box::new(crate::aws_mode::key_store(&args.config).await?));
    }
    let dir = &args.data_dir;
    tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
    Ok(Box::new(SqliteKeyStore::open(&dir.join(JOBS_FILE)).await?))
}

/// Runs `spectra keys ...`.
pub async fn run(command: KeysCmd) -> anyhow::Result<bool> {
    match command {
        KeysCmd::Create { tenant, store } => {
            let tenant = TenantId::parse(&tenant).with_context(|| format!("--tenant {tenant:?}"))?;
            let minted = mint_key(&tenant);
            open(&store).await?.put(&minted.record).await?;
            writeln!(
                std::io::stderr().lock(),
                "key id {} for tenant {tenant} (revoke with: spectra keys revoke {}{})",
                minted.record.key_id,
                minted.record.key_id,
                if store.aws { " --aws" } else { "" }
            )?;
            writeln!(std::io::stdout().lock(), "{}", minted.key)?;
            Ok(true)
        }
        KeysCmd::Revoke { key_id, store } => {
            if !open(&store).await?.revoke(&key_id).await? {
                bail!("no active key with id {key_id}");
            }
            writeln!(std::io::stdout().lock(), "revoked {key_id}")?;
            Ok(true)
        }
    }
}
