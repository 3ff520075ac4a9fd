//! The warehouse of an embedded platform's data directory, opened in this process.

use std::path::Path;

use spectra_local::{EmbeddedPlatform, OBJECTS_DIR, WAREHOUSE_FILE};
use spectra_worker::ports::WarehouseError;

use crate::{DuckWarehouse, WarehouseConfig};

/// Opens `data_dir`'s warehouse beside `platform`: statements read and write the platform's
/// object store, and their status-change events go where the platform's settings say (the work
/// queue, as the EventBridge rule delivers them on AWS). DuckDB lets one process hold the file,
/// so a second `spectra up` on the same directory fails here.
pub async fn open_in(
    platform: &EmbeddedPlatform,
    data_dir: &Path,
    config: WarehouseConfig,
) -> Result<DuckWarehouse, WarehouseError> {
    let events = platform.statement_events();
    DuckWarehouse::open(&data_dir.join(WAREHOUSE_FILE), &data_dir.join(OBJECTS_DIR), config, events).await
}
