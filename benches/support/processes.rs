//! What the benches on the local stack share (included with `#[path]`): the stack's settings,
//! child processes killed however the bench ends, and their CPU time.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;

/// A variable the local stack sets; exits with a hint when it is missing.
pub fn need(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("{name} is not set: start the local stack first (see the top of this bench's file)");
        std::process::exit(2)
    })
}

/// The kernel's clock ticks per second (what `/proc/<pid>/stat` counts in).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

/// user+sys CPU seconds of a process so far.
pub fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / ticks
}

/// A child process that is killed when the bench ends, however it ends.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin <args>` with `env` added, and waits for the log line `ready`; returns the
/// process, the first word after `ready` (an address), and the later lines on a channel.
pub fn spawn(bin: &str, args: &[&str], env: &[(String, String)], ready: &str) -> (Process, String, Receiver<String>) {
    let child = Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Process(child);
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the process ended").unwrap();
        if let Some((_, rest)) = line.split_once(ready) {
            let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            return (child, addr, rx);
        }
    }
}
