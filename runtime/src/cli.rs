//! What every binary's command line shares: its version with the commit it was built from, and
//! the settings its `--help` lists. The settings are read from the configuration table
//! (docs/configuration.md), the one place they are written; each binary includes the table at
//! build time, and `.env.example` is made from it too ([`env_example`], held equal by a test).

static COMMIT: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Records the commit the running binary was built from (its `option_env!("COLLOQUY_COMMIT")`,
/// which `deploy/dev` sets), for [`commit`] and [`version`]: each `main` calls it first.
pub fn record_commit(commit: Option<&'static str>) {
    let _ = COMMIT.set(commit.filter(|c| !c.is_empty()).unwrap_or("unknown"));
}

/// The commit [`record_commit`] recorded; `unknown` when none was (tests, a library).
pub fn commit() -> &'static str {
    COMMIT.get().copied().unwrap_or("unknown")
}

/// `0.1.0 (commit 1a2b3c4)`: the package version and the [`commit`].
pub fn version(package: &'static str) -> &'static str {
    Box::leak(format!("{package} (commit {})", commit()).into_boxed_str())
}

/// One row of the configuration table: its variables, who reads them, and the default with
/// what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub names: Vec<String>,
    pub used_by: String,
    pub meaning: String,
}

impl Setting {
    /// Whether `service` reads it: named in the "used by" column, or `all` (the three
    /// services).
    pub fn read_by(&self, service: &str) -> bool {
        let services = ["ingest", "query-api", "projector"];
        self.used_by
            .split([',', ';', '/', ' ', '(', ')', '`'])
            .any(|word| word == service || (word == "all" && services.contains(&service)))
    }
}

/// The services' settings: the rows of the table whose first column names variables and that
/// have three columns (the local stack's own table, two columns, is `deploy/dev`'s).
pub fn settings(table: &str) -> Vec<Setting> {
    table
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
            let [names, used_by, meaning] = cells.as_slice() else {
                return None;
            };
            let names: Vec<String> = names
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            Some(Setting {
                names,
                used_by: plain(used_by),
                meaning: plain(meaning),
            })
        })
        .collect()
}

/// Markdown's code marks and escapes taken out, for a terminal.
fn plain(cell: &str) -> String {
    cell.replace('`', "").replace("\\|", "|").trim().to_owned()
}

/// The settings `service` reads, as its `--help` ends: each variable, then its default and
/// meaning, wrapped.
pub fn settings_help(table: &str, service: &str) -> String {
    let mut out = String::from(
        "Settings, read from the environment (docs/configuration.md has the same table):\n",
    );
    for setting in settings(table).iter().filter(|s| s.read_by(service)) {
        out.push_str(&format!("\n  {}\n", setting.names.join(", ")));
        for line in wrap(&setting.meaning, 88) {
            out.push_str(&format!("      {line}\n"));
        }
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// `.env.example`: every setting of the services, commented out, with its default and
/// meaning, so an operator copies it and sets what they need.
pub fn env_example(table: &str) -> String {
    let mut out = String::from(
        "# Every setting of ingest, query-api and the projector, from docs/configuration.md\n\
         # (made from that table; `cargo test -p runtime env_example` checks they agree).\n\
         # Copy it, uncomment what you set, and export it to the services' environment.\n",
    );
    for setting in settings(table) {
        out.push('\n');
        out.push_str(&format!("# [{}]\n", setting.used_by));
        for line in wrap(&setting.meaning, 96) {
            out.push_str(&format!("# {line}\n"));
        }
        for name in &setting.names {
            out.push_str(&format!("# {name}=\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = include_str!("../../docs/configuration.md");

    #[test]
    fn the_table_reads_as_settings_and_each_service_has_its_own() {
        let all = settings(TABLE);
        assert!(all.len() > 40, "{}", all.len());
        let ingest = settings_help(TABLE, "ingest");
        assert!(ingest.contains("INGEST_WEBSITES"), "{ingest}");
        assert!(
            ingest.contains("KAFKA_BROKERS"),
            "shared settings are listed"
        );
        assert!(!ingest.contains("ADMIN_TOKEN"), "{ingest}");
        let query = settings_help(TABLE, "query-api");
        assert!(query.contains("ADMIN_TOKEN") && query.contains("DATABASE_URL"));
        // Markdown is not shown on a terminal.
        assert!(!query.contains('`'), "{query}");
        let mail = settings_help(TABLE, "colloquy-mailsink");
        assert!(mail.contains("MAILSINK_ADDR") && !mail.contains("KAFKA_BROKERS"));
    }

    /// `.env.example` at the root is what [`env_example`] makes of the table; with
    /// `UPDATE_ENV_EXAMPLE=1` the test writes it.
    #[test]
    fn env_example_is_made_from_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example");
        let made = env_example(TABLE);
        if std::env::var_os("UPDATE_ENV_EXAMPLE").is_some() {
            std::fs::write(path, &made).expect("write .env.example");
        }
        let stored = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            stored == made,
            ".env.example differs from docs/configuration.md: run \
             UPDATE_ENV_EXAMPLE=1 cargo test -p runtime env_example"
        );
        assert!(made.contains("# INGEST_WEBSITES="));
    }

    #[test]
    fn a_version_names_its_commit() {
        assert_eq!(version("0.1.0"), "0.1.0 (commit unknown)");
        record_commit(Some("1a2b3c4"));
        assert_eq!(version("0.1.0"), "0.1.0 (commit 1a2b3c4)");
    }
}
