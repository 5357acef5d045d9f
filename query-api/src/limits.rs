//! Bounds on long-lived work: exports (each holds a pooled Postgres connection while it
//! streams) and live streams. Each kind has its own [`Gate`], with a limit per token and one in
//! total, so one token cannot take every slot and the long-lived kinds together cannot take the
//! connections ordinary reads need (docs/configuration.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::ApiError;

/// How many of one kind of work may run at once, per token and in total.
#[derive(Debug)]
pub struct Gate {
    /// What runs under it, for the refusal's message: "exports", "streams".
    what: &'static str,
    per_token: usize,
    total: usize,
    /// Running now: in total, and per token digest.
    running: Mutex<(usize, HashMap<String, usize>)>,
}

/// Seconds a client refused a slot should wait: long-lived work does not end within a second.
const RETRY_AFTER_S: u64 = 5;

/// A slot taken from a [`Gate`]; dropping it gives the slot back.
#[derive(Debug)]
pub struct Pass {
    gate: Arc<Gate>,
    token: String,
}

impl Gate {
    /// How many run now, in total.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// `per_token` may run for one token and `total` for all of them; 0 refuses every request.
    pub fn new(what: &'static str, per_token: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            what,
            per_token,
            total,
            running: Mutex::new((0, HashMap::new())),
        })
    }

    /// A slot for the token with digest `token`: refused with 429 when the token runs its
    /// limit already, with 503 when the server does; both say when to retry.
    pub fn enter(self: &Arc<Self>, token: &str) -> Result<Pass, ApiError> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_token) = &mut *running;
        let mine = per_token.get(token).copied().unwrap_or(0);
        if mine >= self.per_token {
            return Err(ApiError::Limited {
                message: format!(
                    "this token runs {mine} {} already, its limit: retry when one ends",
                    self.what
                ),
                whole_server: false,
                retry_after_s: RETRY_AFTER_S,
            });
        }
        if *total >= self.total {
            return Err(ApiError::Limited {
                message: format!(
                    "the server runs {} {}, its limit: retry later",
                    self.total, self.what
                ),
                whole_server: true,
                retry_after_s: RETRY_AFTER_S,
            });
        }
        *total += 1;
        *per_token.entry(token.to_owned()).or_insert(0) += 1;
        Ok(Pass {
            gate: self.clone(),
            token: token.to_owned(),
        })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut running = self.gate.running.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_token) = &mut *running;
        *total = total.saturating_sub(1);
        if let Some(n) = per_token.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                per_token.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(result: Result<Pass, ApiError>) -> Option<bool> {
        match result {
            Err(ApiError::Limited { whole_server, .. }) => Some(whole_server),
            _ => None,
        }
    }

    #[test]
    fn a_token_gets_its_share_and_the_server_its_total() {
        let gate = Gate::new("exports", 2, 3);
        let a1 = gate.enter("a").unwrap();
        let _a2 = gate.enter("a").unwrap();
        assert_eq!(refused(gate.enter("a")), Some(false), "a's own limit");
        let _b1 = gate.enter("b").unwrap();
        assert_eq!(refused(gate.enter("c")), Some(true), "the server's limit");
        drop(a1);
        let _c1 = gate.enter("c").unwrap();
        assert_eq!(refused(gate.enter("a")), Some(true));
        assert_eq!(gate.running.lock().unwrap().1.len(), 3);
    }

    #[test]
    fn slots_come_back_when_passes_are_dropped() {
        let gate = Gate::new("streams", 1, 1);
        for _ in 0..3 {
            let pass = gate.enter("a").unwrap();
            assert!(refused(gate.enter("b")).is_some());
            drop(pass);
        }
        assert_eq!(*gate.running.lock().unwrap(), (0, HashMap::new()));
    }
}
