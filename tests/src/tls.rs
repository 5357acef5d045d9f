//! Certificates for tests of TLS connections, made with the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA, and a server certificate and key it signed.
pub struct Certificates {
    /// The CA's certificate: what clients trust.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certificates {
    /// Makes them in `dir` for a server at `ip` (and `localhost`). The key is readable by its
    /// owner only (Postgres refuses it otherwise); `owner` (uid, gid) is who that is when the
    /// server runs as another user.
    pub fn make(dir: &Path, ip: &str, owner: Option<(u32, u32)>) -> Self {
        std::fs::create_dir_all(dir).expect("certificate dir");
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("run openssl (Debian's openssl package)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let subject_names = dir.join("san.ext");
        std::fs::write(
            &subject_names,
            format!("subjectAltName=IP:{ip},DNS:localhost\n"),
        )
        .expect("write the extension file");
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Colloquy test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        let key = dir.join("server.key");
        let mode = |path: &Path, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .expect("set permissions");
        };
        mode(&key, 0o600);
        mode(dir, 0o755);
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&key, Some(uid), Some(gid)).expect("chown the key");
        }
        Self {
            ca: dir.join("ca.crt"),
            cert: dir.join("server.crt"),
            key,
        }
    }
}
