//! The traffic model: websites, and conversations on them as a chat widget reports them.
//!
//! Websites differ in size (the n-th gets 1/n of the first one's traffic, as real sites do).
//! Each keeps a few conversations in progress, and every request takes the next events of
//! those, so a batch interleaves conversations the way a busy site's traffic does. What a
//! conversation holds is decided when it starts, from [`Shares`]: every one loads the widget;
//! some visitors engage and trade messages of realistic lengths with the bot; some click a
//! call to action; some leave their contact details, and some of those came before.
//!
//! Over 500 lines with its unit tests (a seventh of it), kept beside the generator they test.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

/// How often each thing happens. The defaults give about 4.3 events per conversation and,
/// over 1,000,000 conversations, about 250,000 contact forms from about 200,000 people.
#[derive(Debug, Clone)]
pub struct Shares {
    /// Conversations where the visitor writes at least once.
    pub engaged: f64,
    /// Exchanges (a visitor message and the bot's answer) in an engaged conversation: one,
    /// then each further one with this probability (a mean of 1 / (1 - p)).
    pub another_turn: f64,
    /// Conversations with a click on a call to action.
    pub cta: f64,
    /// Engaged conversations that end in a contact form.
    pub contact: f64,
    /// Contact forms from someone who sent one before.
    pub returning: f64,
    /// Engaged conversations the visitor rates, and closes.
    pub rated: f64,
    pub closed: f64,
    /// Visitors the website knows (logged in): their events carry a customer id.
    pub customer: f64,
    /// Bot answers unsure enough to ask for a human.
    pub needs_human: f64,
}

impl Default for Shares {
    fn default() -> Self {
        Self {
            engaged: 0.40,
            another_turn: 2.0 / 3.0,
            cta: 0.10,
            contact: 0.625,
            returning: 0.20,
            rated: 0.10,
            closed: 0.30,
            customer: 0.10,
            needs_human: 0.03,
        }
    }
}

/// A small deterministic generator (SplitMix64): the same seed scripts the same traffic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` ≥ 1).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn uuid(&mut self) -> uuid::Uuid {
        let bytes = (u128::from(self.next_u64()) << 64 | u128::from(self.next_u64())).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// One website: its id, the write key the benchmark gives it, and its pages.
#[derive(Debug, Clone)]
pub struct Website {
    pub id: String,
    pub write_key: String,
    pub pages: Vec<String>,
}

/// `count` websites, the same for every generator (ingest must be told their keys).
pub fn websites(count: usize) -> Vec<Website> {
    const PAGES: &[&str] = &[
        "",
        "pricing",
        "features",
        "contact",
        "blog/launch",
        "blog/how-it-works",
        "docs",
        "docs/getting-started",
        "about",
        "careers",
        "shop",
        "shop/cart",
        "support",
        "faq",
    ];
    (0..count.max(1))
        .map(|i| Website {
            id: format!("site-{i:03}"),
            write_key: format!("bench-key-{i:03}"),
            pages: PAGES
                .iter()
                .map(|p| format!("https://site-{i:03}.example/{p}"))
                .collect(),
        })
        .collect()
}

/// What ingest's `INGEST_WEBSITES` must hold for [`websites`]`(count)`.
pub fn ingest_websites(count: usize) -> String {
    websites(count)
        .iter()
        .map(|w| format!("{}={}", w.id, w.write_key))
        .collect::<Vec<_>>()
        .join(",")
}

/// The events of one request, all for one website (a request carries one write key).
#[derive(Debug)]
pub struct Request {
    pub website: usize,
    pub events: Vec<Value>,
}

/// Conversations a website keeps in progress at once.
const IN_PROGRESS: usize = 8;

/// An endless stream of widget traffic.
pub struct Traffic {
    rng: Rng,
    shares: Shares,
    websites: Vec<Website>,
    /// Cumulative website weights, for picking one by its traffic.
    cumulative: Vec<f64>,
    in_progress: Vec<Vec<VecDeque<Value>>>,
    /// People who left their details so far (their number), for returning visitors.
    people: u64,
    /// Distinguishes this generator's people from other generators'.
    tag: u64,
    /// When set, conversations are spread over this window and events carry `occurred_at`
    /// (history for a dataset); otherwise ingest stamps them with the time it receives them.
    history: Option<(DateTime<Utc>, i64)>,
    conversations: u64,
}

impl Traffic {
    pub fn new(seed: u64, websites: Vec<Website>, shares: Shares) -> Self {
        let mut total = 0.0;
        let cumulative = (0..websites.len())
            .map(|i| {
                total += 1.0 / (i as f64 + 1.0);
                total
            })
            .collect();
        let in_progress = vec![Vec::new(); websites.len()];
        Self {
            rng: Rng::new(seed),
            shares,
            websites,
            cumulative,
            in_progress,
            people: 0,
            tag: seed,
            history: None,
            conversations: 0,
        }
    }

    /// Spreads conversations over the `days` before `until`, with event times.
    pub fn with_history(mut self, until: DateTime<Utc>, days: u32) -> Self {
        let span = i64::from(days.max(1)) * 86_400;
        self.history = Some((until - Duration::seconds(span), span));
        self
    }

    pub fn websites(&self) -> &[Website] {
        &self.websites
    }

    /// Conversations started so far.
    pub fn conversations(&self) -> u64 {
        self.conversations
    }

    /// The next `events` events of one website, which is picked by its share of traffic.
    pub fn next_request(&mut self, events: usize) -> Request {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let point = self.rng.unit() * total;
        let website = self
            .cumulative
            .partition_point(|c| *c <= point)
            .min(self.websites.len() - 1);
        let events = (0..events.max(1)).map(|_| self.next_of(website)).collect();
        Request { website, events }
    }

    /// The next event of one of `website`'s conversations in progress.
    fn next_of(&mut self, website: usize) -> Value {
        while self.in_progress[website].len() < IN_PROGRESS {
            let script = self.conversation(website);
            self.in_progress[website].push(script);
        }
        let slot = self.rng.below(IN_PROGRESS as u64) as usize;
        let event = self.in_progress[website][slot].pop_front();
        if self.in_progress[website][slot].is_empty() {
            self.in_progress[website].swap_remove(slot);
        }
        // A script is never empty: every conversation loads the widget.
        event.unwrap_or(Value::Null)
    }

    /// Scripts one conversation from start to end.
    fn conversation(&mut self, website: usize) -> VecDeque<Value> {
        self.conversations += 1;
        let rng = &mut self.rng;
        let shares = &self.shares;
        let site = &self.websites[website];
        let conversation_id = rng.uuid().to_string();
        let page = rng.pick(&site.pages).clone();
        let customer = rng
            .chance(shares.customer)
            .then(|| format!("cust-{}", rng.below(50_000)));
        let agent = *rng.pick(USER_AGENTS);
        // Most widgets declare the page's language; the others leave it to the projector to
        // detect from what the visitor writes.
        let language = *rng.pick(&[
            Some("en"),
            Some("en"),
            Some("de"),
            Some("fr"),
            None,
            None,
            None,
        ]);
        let mut at = self
            .history
            .map(|(from, span)| from + Duration::seconds(rng.below(span as u64) as i64));
        let mut events = VecDeque::new();
        let mut event =
            |rng: &mut Rng, kind: &str, payload: Value, at: &mut Option<DateTime<Utc>>| {
                let mut e = json!({
                    "event_id": rng.uuid(),
                    "type": kind,
                    "conversation_id": conversation_id,
                    "context": {"user_agent": agent, "language": language, "page_url": page},
                    "payload": payload,
                });
                if let Some(t) = at {
                    e["occurred_at"] = json!(t.to_rfc3339_opts(SecondsFormat::Millis, true));
                    *t += Duration::milliseconds(2_000 + rng.below(40_000) as i64);
                }
                if kind == "message.sent" {
                    e["schema_version"] = json!(2);
                }
                events.push_back(e);
            };
        let with_customer = |mut payload: Value| {
            if let Some(c) = &customer {
                payload["customer_id"] = json!(c);
            }
            payload
        };
        event(
            rng,
            "widget.loaded",
            with_customer(json!({"page_url": page})),
            &mut at,
        );
        let engaged = rng.chance(shares.engaged);
        let mut transcript = Vec::new();
        if engaged {
            event(
                rng,
                "conversation.started",
                with_customer(json!({})),
                &mut at,
            );
            loop {
                let question = visitor_question(rng);
                let message_id = rng.uuid().to_string();
                let payload = with_customer(json!({
                    "message_id": message_id,
                    "sender": {"type": "user"},
                    "text": question,
                }));
                event(rng, "message.sent", payload, &mut at);
                let confidence = 0.35 + rng.unit() * 0.65;
                let answer = sentence(rng, 8, 80, '.');
                let payload = json!({
                    "message_id": rng.uuid().to_string(),
                    "sender": {"type": "bot", "id": "assistant"},
                    "text": answer,
                    "response_time_ms": 300 + rng.below(2_700),
                    "confidence_score": (confidence * 100.0).round() / 100.0,
                    "requires_human": rng.chance(shares.needs_human),
                });
                event(rng, "message.sent", payload, &mut at);
                transcript.push((question, answer));
                if !rng.chance(shares.another_turn) {
                    break;
                }
            }
        }
        if rng.chance(shares.cta) {
            let (cta, label) = *rng.pick(CTAS);
            event(
                rng,
                "cta.clicked",
                with_customer(json!({
                    "cta_id": cta,
                    "label": label,
                    "value": format!("https://{}.example/{cta}", site.id),
                })),
                &mut at,
            );
        }
        if engaged && rng.chance(shares.contact) {
            let person = if self.people > 0 && rng.chance(shares.returning) {
                rng.below(self.people)
            } else {
                self.people += 1;
                self.people - 1
            };
            let tag = self.tag;
            let name = format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
            let mut form = json!({
                "request_id": rng.uuid().to_string(),
                "name": name,
                "email": format!("person{person}.g{tag}@mail{}.example", person % 97),
                "message": sentence(rng, 6, 40, '.'),
                "chat_context": transcript.iter().take(3).flat_map(|(q, a)| [
                    json!({"text": q, "is_user": true}),
                    json!({"text": a, "is_user": false}),
                ]).collect::<Vec<_>>(),
            });
            // Half leave a phone number too, always the same one for the same person.
            if person % 2 == 0 {
                form["phone"] = json!(format!("+1 555 {:07}", (person * 7 + tag) % 10_000_000));
            }
            event(rng, "contact.submitted", with_customer(form), &mut at);
        }
        if engaged && rng.chance(shares.rated) {
            let rating = 1 + rng.below(5);
            event(
                rng,
                "conversation.rated",
                json!({"rating": rating}),
                &mut at,
            );
        }
        if engaged && rng.chance(shares.closed) {
            event(
                rng,
                "conversation.closed",
                json!({"reason": "user"}),
                &mut at,
            );
        }
        events
    }
}

/// What a visitor asks: 3 to 28 words.
pub fn visitor_question(rng: &mut Rng) -> String {
    sentence(rng, 3, 28, '?')
}

/// Between `min` and `max` words, capitalised, ending in `end`.
fn sentence(rng: &mut Rng, min: u64, max: u64, end: char) -> String {
    let words = min + rng.below(max - min + 1);
    let mut text = String::with_capacity(words as usize * 7);
    for i in 0..words {
        let word = *rng.pick(WORDS);
        if i == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push(' ');
            text.push_str(word);
        }
    }
    text.push(end);
    text
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
];

const CTAS: &[(&str, &str)] = &[
    ("book-demo", "Book a demo"),
    ("see-pricing", "See pricing"),
    ("start-trial", "Start free trial"),
    ("talk-to-sales", "Talk to sales"),
];

pub const FIRST_NAMES: &[&str] = &[
    "Olivia", "Marco", "Aisha", "Lars", "Mei", "Diego", "Fatima", "Jonas", "Priya", "Tom",
];
pub const LAST_NAMES: &[&str] = &[
    "Berg", "Rossi", "Khan", "Nielsen", "Chen", "Garcia", "Haddad", "Weber", "Patel", "Smith",
];

const WORDS: &[&str] = &[
    "the",
    "a",
    "your",
    "our",
    "we",
    "you",
    "can",
    "do",
    "is",
    "it",
    "to",
    "for",
    "with",
    "on",
    "order",
    "shipping",
    "price",
    "plan",
    "account",
    "refund",
    "delivery",
    "team",
    "trial",
    "support",
    "invoice",
    "upgrade",
    "integration",
    "website",
    "widget",
    "customers",
    "week",
    "days",
    "monthly",
    "annual",
    "discount",
    "help",
    "question",
    "export",
    "report",
    "setup",
    "install",
    "password",
    "login",
    "email",
    "phone",
    "Norway",
    "Germany",
    "available",
    "today",
    "tomorrow",
    "fast",
    "secure",
    "simple",
    "data",
    "privacy",
    "contract",
    "cancel",
    "change",
    "address",
    "payment",
    "card",
    "bank",
    "transfer",
    "how",
    "when",
    "where",
    "why",
    "which",
    "please",
    "thanks",
    "sure",
    "of",
    "course",
    "about",
    "between",
    "minutes",
    "hours",
    "free",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(conversations: usize) -> (Traffic, Vec<Value>) {
        let mut traffic = Traffic::new(7, websites(20), Shares::default());
        let mut events = Vec::new();
        while (traffic.conversations() as usize) < conversations {
            events.extend(traffic.next_request(50).events);
        }
        (traffic, events)
    }

    #[test]
    fn every_event_is_one_ingest_accepts() {
        let (_, events) = sample(2_000);
        for event in events {
            if let Err(error) = schemas::IncomingEvent::parse(event.clone()) {
                panic!("{error}: {event}");
            }
        }
    }

    #[test]
    fn the_mix_has_the_shares_it_is_built_from() {
        let (traffic, events) = sample(20_000);
        let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count() as f64;
        let loaded = count("widget.loaded");
        // Conversations still in progress have not sent everything yet.
        assert!(loaded <= traffic.conversations() as f64);
        assert!(loaded >= traffic.conversations() as f64 - (20 * IN_PROGRESS) as f64);
        let share = |kind: &str| count(kind) / loaded;
        assert!((0.37..0.43).contains(&share("conversation.started")));
        assert!((0.08..0.12).contains(&share("cta.clicked")));
        assert!((0.22..0.28).contains(&share("contact.submitted")));
        // Three exchanges of two messages per engaged conversation, on average.
        let per_engaged = count("message.sent") / count("conversation.started");
        assert!((5.4..6.6).contains(&per_engaged), "{per_engaged}");
    }

    #[test]
    fn the_same_seed_scripts_the_same_traffic() {
        let a: Vec<Value> = Traffic::new(3, websites(5), Shares::default())
            .next_request(200)
            .events;
        let b: Vec<Value> = Traffic::new(3, websites(5), Shares::default())
            .next_request(200)
            .events;
        assert_eq!(a, b);
    }

    #[test]
    fn bigger_websites_get_more_traffic() {
        let mut traffic = Traffic::new(1, websites(10), Shares::default());
        let mut per_site = [0u32; 10];
        for _ in 0..20_000 {
            per_site[traffic.next_request(1).website] += 1;
        }
        assert!(
            per_site[0] > per_site[1] && per_site[1] > per_site[9],
            "{per_site:?}"
        );
    }

    #[test]
    fn history_puts_events_in_the_window() {
        let until = Utc::now();
        let mut traffic = Traffic::new(2, websites(3), Shares::default()).with_history(until, 30);
        for event in traffic.next_request(500).events {
            let at: DateTime<Utc> = event["occurred_at"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("an event time");
            assert!(at > until - Duration::days(31) && at < until + Duration::days(1));
        }
    }
}
