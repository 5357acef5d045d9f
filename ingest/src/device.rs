//! Device type from the user agent, with Project Woothee's classifier.

use std::cell::RefCell;
use std::collections::HashMap;

/// Agents remembered per worker thread. A visitor's browser sends the same agent with every
/// event, and a handful of browser versions send most traffic, while classifying one costs
/// dozens of substring and regex searches (a tenth of ingest's CPU per event, measured with
/// `perf` under `loadgen`). Past this many the memory is cleared, so odd agents cannot grow it.
const REMEMBERED: usize = 4_096;

thread_local! {
    static SEEN: RefCell<HashMap<String, Option<&'static str>>> = RefCell::new(HashMap::new());
}

/// `mobile`, `tablet`, `desktop` or `bot`; `None` when the agent says nothing usable.
pub fn device_type(user_agent: &str) -> Option<&'static str> {
    SEEN.with_borrow_mut(|seen| {
        if let Some(device) = seen.get(user_agent) {
            return *device;
        }
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        let device = classify(user_agent);
        seen.insert(user_agent.to_owned(), device);
        device
    })
}

fn classify(user_agent: &str) -> Option<&'static str> {
    let parsed = woothee::parser::Parser::new().parse(user_agent)?;
    let tablet = parsed.os == "iPad" || (parsed.os == "Android" && !user_agent.contains("Mobile"));
    match parsed.category {
        "crawler" => Some("bot"),
        "smartphone" | "mobilephone" if tablet => Some("tablet"),
        "smartphone" | "mobilephone" => Some("mobile"),
        "pc" => Some("desktop"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents_get_their_device_type() {
        let cases = [
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                "mobile",
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                "tablet",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "tablet",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
                "mobile",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "desktop",
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "bot",
            ),
        ];
        for (agent, expected) in cases {
            assert_eq!(device_type(agent), Some(expected), "{agent}");
        }
    }

    #[test]
    fn a_remembered_agent_gets_the_same_answer() {
        let agent = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device_type(agent), Some("tablet"));
        assert_eq!(device_type(agent), Some("tablet"));
        // Filling the memory past its bound forgets, and still answers.
        for i in 0..REMEMBERED + 10 {
            assert_eq!(device_type(&format!("curl/{i}")), None);
        }
        assert_eq!(device_type(agent), Some("tablet"));
    }

    #[test]
    fn an_unknown_agent_has_no_device_type() {
        assert_eq!(device_type("curl/8.5.0"), None);
    }
}
