//! The `spectra` binary as users meet it: help lists the planned subcommands, and a subcommand
//! that is not built yet fails loudly instead of doing nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn spectra(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spectra")).args(args).output().expect("run spectra")
}

#[test]
fn help_lists_the_planned_subcommands() {
    let out = spectra(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for sub in ["up", "worker", "api", "redshift-emulator", "sql", "keys", "bulk", "jobs"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(sub)), "`{sub}` missing from:\n{help}");
    }
    let bulk = String::from_utf8(spectra(&["bulk", "--help"]).stdout).unwrap();
    for sub in ["create", "upload", "close", "abort", "get", "list", "results"] {
        assert!(bulk.lines().any(|l| l.trim_start().starts_with(sub)), "`bulk {sub}` missing from:\n{bulk}");
    }
}

#[test]
fn unbuilt_subcommands_fail_with_a_pointer_to_their_issue() {
    let out = spectra(&["worker"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("spectra worker: not implemented yet (tracked in issue #6)"), "{err}");
}

#[test]
fn unknown_subcommands_are_usage_errors() {
    let out = spectra(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
