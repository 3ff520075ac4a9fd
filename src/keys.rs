//! `spectra keys create|revoke`: API keys for the REST API, on the data directory (`spectra up`)
//! or, with `--aws`, in the AWS job table (`spectra api`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use spectra_worker::ports::{KeyStore, mint_key};
#[cfg(feature = "embedded")]
use {
    anyhow::Context,
    spectra_local::{JOBS_FILE, SqliteKeyStore, write_private_file},
    spectra_state_machine::TenantId,
    spectra_worker::ports::hash_key,
};

use crate::cli::{KeyStoreArgs, KeysCmd};
use crate::layers::Layers;

async fn open(args: &KeyStoreArgs, layers: &Layers) -> anyhow::Result<Box<dyn KeyStore>> {
    if args.aws {
        #[cfg(feature = "aws")]
        return Ok(Box::new(crate::aws_mode::key_store(layers).await?));
        #[cfg(not(feature = "aws"))]
        bail!("this spectra was built without the `aws` feature: --aws is not available");
    }
    #[cfg(feature = "embedded")]
    {
        let dir = &args.data_dir;
        tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
        Ok(Box::new(SqliteKeyStore::open(&dir.join(JOBS_FILE)).await?))
    }
    #[cfg(not(feature = "embedded"))]
    bail!("this spectra was built without the `embedded` feature: keys live in the AWS job table (--aws)")
}

/// Runs `spectra keys ...`.
pub async fn run(command: KeysCmd, layers: &Layers) -> anyhow::Result<ExitCode> {
    match command {
        KeysCmd::Create { tenant, store } => {
            let minted = mint_key(&tenant);
            open(&store, layers).await?.put(&minted.record).await?;
            writeln!(
                std::io::stderr().lock(),
                "key id {} for tenant {tenant} (revoke with: spectra keys revoke {}{})",
                minted.record.key_id,
                minted.record.key_id,
                if store.aws { " --aws" } else { "" }
            )?;
            writeln!(std::io::stdout().lock(), "{}", minted.key)?;
            Ok(ExitCode::SUCCESS)
        }
        KeysCmd::Revoke { key_id, store } => {
            if !open(&store, layers).await?.revoke(&key_id).await? {
                bail!("no active key with id {key_id}");
            }
            writeln!(std::io::stdout().lock(), "revoked {key_id}")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(feature = "embedded")]
/// The file holding the demo tenant's key, in the data directory (mode 0600, like the admin
/// token), so that every start of `spectra up` reuses one key instead of minting another.
pub const DEMO_KEY_FILE: &str = "demo.key";

#[cfg(feature = "embedded")]
/// The demo tenant's key: the one in `demo.key` while the store still accepts it, otherwise a
/// fresh one. The file is written before the key is stored, so a crash between the two leaves
/// a key that authenticates nothing and is replaced at the next start, never a stored key that
/// nobody holds.
pub async fn demo_key(data_dir: &std::path::Path, tenant: &TenantId, keys: &dyn KeyStore) -> anyhow::Result<String> {
    let path = data_dir.join(DEMO_KEY_FILE);
    if let Ok(text) = tokio::fs::read_to_string(&path).await {
        let key = text.trim();
        let record = keys.find(&hash_key(key)).await.context("looking up the demo key")?;
        if record.is_some_and(|r| r.revoked_at.is_none() && r.tenant_id == *tenant) {
            return Ok(key.to_owned());
        }
    }
    let minted = mint_key(tenant);
    write_private_file(&path, &minted.key).await.with_context(|| format!("writing {}", path.display()))?;
    keys.put(&minted.record).await.context("storing the demo API key")?;
    Ok(minted.key)
}
