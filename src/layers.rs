//! Where settings come from, one mechanism for all of them. Lowest first:
//!
//! 1. the libraries' `Default` impls (the flags' defaults are taken from them);
//! 2. a config file (`--config FILE` or `SPECTRA_CONFIG`) of `SPECTRA_*=value` lines;
//! 3. `SPECTRA_*` environment variables;
//! 4. flags on the command line.
//!
//! Every flag that is a setting names its variable (`env = "SPECTRA_..."`); the file's values
//! become those flags' defaults before parsing, so clap applies the order above and `--help`
//! shows what the file set. The AWS resource settings (`SPECTRA_QUEUE_URL`, ...), which are
//! checked together (`AwsSettings::from_lookup`), read the same two layers through
//! [`Layers::get`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::Command;

/// The variable naming the config file.
const CONFIG_VAR: &str = "SPECTRA_CONFIG";

/// The config file's settings, under the environment's.
#[derive(Debug, Default)]
pub struct Layers {
    file: HashMap<String, String>,
}

impl Layers {
    /// Finds the config file named by `--config` in `args` (or `SPECTRA_CONFIG`) and reads it;
    /// no layers without one. Runs before clap parses, so that the file can set defaults.
    pub fn load(args: &[OsString]) -> anyhow::Result<Self> {
        let Some(path) = config_path(args) else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading --config {}", path.display()))?;
        let file = parse(&text).with_context(|| format!("--config {}", path.display()))?;
        Ok(Self { file })
    }

    /// A setting: the environment first, then the file; blank counts as unset (CloudFormation
    /// passes `""` for unused parameters).
    pub fn get(&self, key: &str) -> Option<String> {
        let env = std::env::var(key).ok().filter(|v| !v.trim().is_empty());
        env.or_else(|| self.file.get(key).filter(|v| !v.trim().is_empty()).cloned())
    }

    /// `command` with the file's values as the defaults of the flags that name them, in every
    /// subcommand.
    pub fn apply(&self, command: Command) -> Command {
        if self.file.is_empty() {
            return command;
        }
        command
            .mut_args(|arg| {
                let value = arg.get_env().and_then(|env| self.file.get(env.to_str()?)).cloned();
                match value {
                    Some(value) => arg.default_value(value),
                    None => arg,
                }
            })
            .mut_subcommands(|sub| self.apply(sub))
    }
}

/// `--config PATH` or `--config=PATH` among the arguments, else `SPECTRA_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_VAR).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// A config file: `KEY=value` lines, `#` comments, optional `export ` and quotes — the
/// environment file format, so the same file works with `env $(cat file)` and systemd.
fn parse(text: &str) -> anyhow::Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            anyhow::bail!("line {}: {line:?} is not KEY=value", n + 1);
        };
        let value = value.trim();
        let unquoted =
            ['"', '\''].iter().find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q))).unwrap_or(value);
        values.insert(key.trim().to_owned(), unquoted.to_owned());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_read_like_environment_files() {
        let file = "# comment\n\nexport SPECTRA_TABLE=jobs\nSPECTRA_BUCKET = 'results'\nSPECTRA_IAM_ROLE=\"arn:aws:iam::1:role/r\"\n";
        let values = parse(file).unwrap();
        assert_eq!(values["SPECTRA_TABLE"], "jobs");
        assert_eq!(values["SPECTRA_BUCKET"], "results");
        assert_eq!(values["SPECTRA_IAM_ROLE"], "arn:aws:iam::1:role/r");
        assert!(parse("oops").unwrap_err().to_string().contains("line 1"));
    }

    #[test]
    fn the_config_flag_is_found_in_either_spelling() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(config_path(&args(&["spectra", "worker", "--config", "f"])), Some(PathBuf::from("f")));
        assert_eq!(config_path(&args(&["spectra", "--config=g", "api"])), Some(PathBuf::from("g")));
    }

    #[test]
    fn the_file_sets_defaults_that_variables_and_flags_override() {
        let layers = Layers {
            file: [
                ("SPECTRA_TEST_LAYER".to_owned(), "7".to_owned()),
                ("SPECTRA_TEST_OTHER".to_owned(), "8".to_owned()),
            ]
            .into(),
        };
        let command = || {
            let sub = Command::new("run")
                .arg(clap::Arg::new("n").long("n").env("SPECTRA_TEST_LAYER").default_value("1"))
                .arg(clap::Arg::new("m").long("m").env("SPECTRA_TEST_OTHER").default_value("2"));
            layers.apply(Command::new("spectra").subcommand(sub))
        };
        let value = |argv: &[&str], id: &str| {
            let matches = command().get_matches_from(argv);
            matches.subcommand_matches("run").unwrap().get_one::<String>(id).unwrap().clone()
        };
        assert_eq!(value(&["spectra", "run"], "n"), "7", "the file over the default");
        assert_eq!(value(&["spectra", "run", "--n", "9"], "n"), "9", "a flag over the file");
        assert_eq!(value(&["spectra", "run"], "m"), "8");
    }
}
