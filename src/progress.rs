//! A progress line for uploads, on stderr: bytes sent, percent, rate. Redrawn in place at most
//! ten times a second on a terminal; elsewhere (logs, CI) only the final line is printed.

use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};

/// Wraps a reader and reports how much of it was read.
pub struct Progress<R> {
    inner: R,
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    last_draw: Option<Instant>,
    tty: bool,
    reported: bool,
}

fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl<R> Progress<R> {
    /// Reports on `inner`, which holds `total` bytes.
    pub fn new(inner: R, label: impl Into<String>, total: u64) -> Self {
        let tty = std::io::stderr().is_terminal();
        Self {
            inner,
            label: label.into(),
            total,
            done: 0,
            started: Instant::now(),
            last_draw: None,
            tty,
            reported: false,
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let pct = if self.total == 0 { 100.0 } else { self.done as f64 * 100.0 / self.total as f64 };
        format!(
            "{}: {} / {} ({pct:.0}%) {}/s",
            self.label,
            human(self.done as f64),
            human(self.total as f64),
            human(self.done as f64 / secs)
        )
    }

    fn draw(&mut self, finished: bool) {
        let due = self.last_draw.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        let mut err = std::io::stderr().lock();
        // Progress is decoration: a closed stderr must not fail the upload.
        if finished && !self.reported {
            self.reported = true;
            let _ = writeln!(err, "{}{}", if self.tty { "\r" } else { "" }, self.line());
        } else if self.tty && due {
            let _ = write!(err, "\r{}", self.line());
            let _ = err.flush();
            self.last_draw = Some(Instant::now());
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Progress<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let read = buf.filled().len() - before;
            self.done += read as u64;
            let finished = read == 0 && buf.remaining() > 0;
            self.draw(finished);
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(512.0), "512.0 B");
        assert_eq!(human(1536.0), "1.5 KB");
        assert_eq!(human(5.0 * 1024.0 * 1024.0 * 1024.0), "5.0 GB");
    }
}
