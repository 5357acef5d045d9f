//! Reading configuration from the environment: parsed once at start, failing fast with a
//! message that names the variable.

use std::fmt::Display;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {message}")]
    Invalid { name: String, message: String },
}

/// Where variables come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;

    /// The variable parsed as `T`, or `default` when it is unset or empty.
    fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(name).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_owned(),
                message: format!("cannot parse {raw:?}: {e}"),
            }),
        }
    }

    /// The variable as a string, or `default`.
    fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    /// A listener's address that may be switched off: `default` when unset or empty, `None`
    /// for `off`.
    fn addr_or_off(
        &self,
        name: &str,
        default: std::net::SocketAddr,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        match self.get(name).as_deref() {
            Some("off") => Ok(None),
            _ => self.parse_or(name, default).map(Some),
        }
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env;

impl Source for Env {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for std::collections::HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).map(|v| (*v).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn an_unset_variable_takes_the_default() {
        let env: HashMap<&str, &str> = HashMap::new();
        assert_eq!(env.parse_or("PORT", 8080u16).unwrap(), 8080);
    }

    #[test]
    fn a_listener_is_its_default_an_address_or_off() {
        let default = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
        let at = |v: &str| HashMap::from([("A", v)]).addr_or_off("A", default);
        assert_eq!(at("").unwrap(), Some(default));
        assert_eq!(at("off").unwrap(), None);
        assert_eq!(
            at("0.0.0.0:80").unwrap(),
            Some("0.0.0.0:80".parse().unwrap())
        );
        assert!(at("nowhere").unwrap_err().to_string().contains("A"));
    }

    #[test]
    fn an_unparsable_variable_names_itself_in_the_error() {
        let env = HashMap::from([("BATCH_SIZE", "lots")]);
        let err = env.parse_or("BATCH_SIZE", 1usize).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("BATCH_SIZE: cannot parse \"lots\""),
            "{err}"
        );
    }
}
