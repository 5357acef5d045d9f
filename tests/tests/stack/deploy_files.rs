//! The Dockerfiles, the compose file and the Kubernetes manifests, checked offline by
//! `deploy/validate.py`: the manifests against the Kubernetes schemas (strictly), the compose
//! file against the Compose specification's schema, and all of them against the code (the
//! variables it reads, the paths it serves, the ports it binds). The validator first proves
//! it finds deliberate breaks (`--self-test`).
//!
//! `deploy/dev test` installs kubernetes-validate into `~/.cache/colloquy/venv` and fetches
//! the docker-compose wheel the Compose schema is read from, and names them in
//! `COLLOQUY_PYTHON` and `COLLOQUY_COMPOSE_WHEEL`.

#[test]
fn deployment_files_validate_and_agree_with_the_code() {
    let python = e2e::installed("COLLOQUY_PYTHON");
    let wheel = e2e::installed("COLLOQUY_COMPOSE_WHEEL");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(python)
        .arg(root.join("deploy/validate.py"))
        .arg("--self-test")
        .env("COLLOQUY_COMPOSE_WHEEL", wheel)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{report}");
    assert!(out.status.success(), "deploy/validate.py found:\n{report}");
}
