//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>` of
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the secret's bytes (`whsec_<base64>`),
//! one signature per secret valid at the time, separated by spaces.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

pub const SECRET_PREFIX: &str = "whsec_";

/// A new secret: 32 random bytes, as receivers' Standard Webhooks libraries read it.
pub fn new_secret() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    // A v4 UUID carries 122 random bits; the version and variant bits are the same in every
    // one, so take the random ones over: 32 bytes of which 244 bits are random.
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a secret; `None` for one that is not `whsec_` and base64.
fn key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// The `webhook-signature` header for `body`, one `v1,` signature per secret.
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| key(s))
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries.
    #[test]
    fn signs_the_standard_webhooks_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let got = signature(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(got, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_give_two_signatures_and_a_bad_one_none() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let both = signature(&[a.clone(), b.clone()], "id", 1, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature(&[a], "id", 1, b"{}"));
        assert_eq!(parts[1], signature(&[b], "id", 1, b"{}"));
        assert_eq!(signature(&["not-a-secret".into()], "id", 1, b"{}"), "");
        assert_eq!(key(&new_secret()).map(|k| k.len()), Some(32));
    }

    /// The README's `verify` (Python), run on signatures made here: it accepts a delivery
    /// signed with its secret among others, and refuses another secret, a changed body and an
    /// old timestamp. Keeps the README's code true.
    #[test]
    fn the_readmes_python_verifier_accepts_these_signatures() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("read README.md");
        let verify = readme
            .split("```python\n")
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .find(|block| block.contains("def verify("))
            .expect("the README has a Python block with `def verify(`");
        let (old, current, other) = (new_secret(), new_secret(), new_secret());
        let body = r#"{"type":"contact.created","data":{"contact":{"email":"ana@example.com"}}}"#;
        let now = chrono::Utc::now().timestamp();
        let case = |secret: &str, sent_body: &str, timestamp: i64| {
            let signed = signature(
                &[old.clone(), current.clone()],
                "msg_1",
                timestamp,
                body.as_bytes(),
            );
            serde_json::json!({
                "secret": secret,
                "body": sent_body,
                "headers": {
                    "webhook-id": "msg_1",
                    "webhook-timestamp": timestamp.to_string(),
                    "webhook-signature": signed,
                },
            })
        };
        let cases = serde_json::json!([
            case(&current, body, now),
            case(&old, body, now),
            case(&other, body, now),
            case(&current, &body.replace("ana", "eve"), now),
            case(&current, body, now - 600),
        ]);
        let script = format!(
            "{verify}\nimport json, sys\n\
             cases = json.load(sys.stdin)\n\
             print(json.dumps([verify(c['secret'], c['headers'], c['body'].encode()) for c in cases]))\n"
        );
        let mut child = std::process::Command::new("python3")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the README's verifier (Debian's python3 package)");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(cases.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let got: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, [true, true, false, false, false]);
    }
}
