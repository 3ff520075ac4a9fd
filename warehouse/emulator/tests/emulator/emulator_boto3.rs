//! The emulator through boto3 (from the test venv), every operation: `tests/python/emulator_boto3.py`.

use super::emulator_contract::start_emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_gets_the_documented_shapes() {
    let python = std::env::var("SPECTRA_PYTHON")
        .expect("SPECTRA_PYTHON is not set: run the tests with scripts/test, which makes the venv with boto3");
    let dir = tempfile::tempdir().unwrap();
    let url = start_emulator(dir.path(), 2).await;
    let for_script = url.clone();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python/emulator_boto3.py");
    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new(python).arg(script).arg(&for_script).output())
            .await
            .unwrap()
            .unwrap();
    // Whatever the script did, stop what it left running: the engine's threads must end for
    // the test to.
    let client = super::emulator_contract::client(&url).await;
    for status in
        [aws_sdk_redshiftdata::types::StatusString::Started, aws_sdk_redshiftdata::types::StatusString::Submitted]
    {
        let listed = client.list_statements().status(status).send().await.unwrap();
        for statement in listed.statements() {
            let _ = client.cancel_statement().id(statement.id()).send().await;
        }
    }
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all 11 operations"), "{stdout}");
}
