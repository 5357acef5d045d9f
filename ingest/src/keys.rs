//! Write keys: which website a request writes to. The website comes from the key, never
//! from the request body, so one site cannot write into another's data.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct WriteKeys {
    by_key: HashMap<String, String>,
}

impl WriteKeys {
    /// From `(website_id, write_key)` pairs.
    pub fn new(websites: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            by_key: websites
                .into_iter()
                .map(|(website, key)| (key, website))
                .collect(),
        }
    }

    /// The website a key writes to, if the key is known.
    pub fn website_for(&self, key: &str) -> Option<&str> {
        self.by_key.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_key_maps_to_its_website_and_an_unknown_one_to_none() {
        let keys = WriteKeys::new([("demo".to_owned(), "k".to_owned())]);
        assert_eq!(keys.website_for("k"), Some("demo"));
        assert_eq!(keys.website_for("demo"), None);
    }
}
