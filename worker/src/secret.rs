//! Secrets in configuration: wrapped, so that no `Debug` of a config, no log line and no error
//! message can print one by accident.

use std::fmt;

/// A value that must never reach a log. `Debug` prints `[redacted]`, there is no `Display`,
/// and reading it takes an explicit [`Secret::expose`] at the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value, for the code that uses it (a signature check, a bearer comparison).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        #[derive(Debug)]
        #[allow(dead_code)] // read only through Debug
        struct Config {
            token: Secret<String>,
        }
        let config = Config { token: Secret::new("sk_live_123".to_owned()) };
        let printed = format!("{config:?} {:?}", Some(&config.token));
        assert!(!printed.contains("sk_live_123"), "{printed}");
        assert!(printed.contains("[redacted]"));
        assert_eq!(config.token.expose(), "sk_live_123");
    }
}
