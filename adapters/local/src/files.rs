//! Files of the data directory beside the stores: the admin and operator tokens, the address of the running
//! `spectra up`, and how secrets are written (owner-only, whole or not at all).

use std::path::Path;

use tokio::io::AsyncWriteExt;

/// The file holding the admin token, in the data directory.
pub const TOKEN_FILE: &str = "admin.token";
/// The file holding the operator token (the dashboard's), in the data directory.
pub const OPERATOR_TOKEN_FILE: &str = "operator.key";
/// The file where a running `spectra up` writes its `host:port`.
pub const ADDR_FILE: &str = "spectra.addr";

/// Reads the data directory's admin token, creating it (mode 0600) on first use.
pub async fn load_or_create_token(data_dir: &Path) -> std::io::Result<String> {
    load_or_create_secret(data_dir, TOKEN_FILE).await
}

/// Reads the secret in `data_dir/<file>`, creating a random one (mode 0600) on first use.
pub async fn load_or_create_secret(data_dir: &Path, file: &str) -> std::io::Result<String> {
    let path = data_dir.join(file);
    if let Ok(token) = tokio::fs::read_to_string(&path).await
        && token.trim().len() >= 32
    {
        return Ok(token.trim().to_owned());
    }
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    write_private_file(&path, &token).await?;
    Ok(token)
}

/// Writes a secret to `path`, readable by the owner only (mode 0600), durably and whole: the
/// text goes to `<path>.partial`, is synced, then renamed over `path`, so a crash leaves the
/// old file or the new one, never half of one.
pub async fn write_private_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&partial).await?;
    file.write_all(text.as_bytes()).await?;
    file.sync_all().await?;
    tokio::fs::rename(&partial, path).await
}
