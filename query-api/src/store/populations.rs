//! The populations every statistic counts, each defined once: a name, the SQL predicate over a
//! `conversations c` row, and the words the API document, the docs and the dashboard use.
//!
//! A statistic of a range counts the conversations *started* in the range (their earliest
//! event falls on one of its days, in the website's time zone) that belong to a population,
//! and `GET /v1/conversations?population=…` lists exactly those rows with the same predicate,
//! so a figure and its drill-down cannot disagree. Every rate is a population divided by one
//! that contains it, so it lies in 0..1 whatever the traffic.

/// A set of conversations among those started in a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    Started,
    Loaded,
    Engaged,
    LoadedEngaged,
    EngagedWithoutLoad,
    CtaClicked,
    ContactSubmitted,
    Escalated,
    Rated,
    BotAnswered,
    AgentAnswered,
    HandoffAnswered,
    WaitingForHuman,
    Contained,
    Abandoned,
    Closed,
    Reopened,
    Resolved,
    Satisfied,
}

/// The predicate of a conversation that is over: closed, or silent for its website's idle
/// minutes (`b`, joined as [`super::days::CONVERSATIONS_ZONED`] does;
/// [`schemas::payloads::DEFAULT_IDLE_MINUTES`] until set). A literal so the populations can
/// include it in theirs; a test holds the default to the schemas'.
macro_rules! over {
    () => {
        "(c.status = 'closed' OR c.last_activity_at < now() - make_interval(mins => COALESCE(b.idle_minutes, 30)))"
    };
}

/// A conversation's outcome (`contained`, `handed_off`, `abandoned`, or `open` while it goes
/// on; null when the visitor never engaged): the SQL of the outcome column of lists and exports,
/// the same predicates as the populations of those names.
pub const OUTCOME: &str = concat!(
    "CASE WHEN c.engaged_at IS NULL THEN NULL WHEN c.handoff_at IS NOT NULL THEN 'handed_off' WHEN NOT ",
    over!(),
    " THEN 'open' WHEN c.unanswered THEN 'abandoned' ELSE 'contained' END"
);

impl Population {
    /// Every population: those kept per quarter hour ([`Population::QUARTERED`]) first.
    pub const ALL: [Population; 19] = [
        Population::Started,
        Population::Loaded,
        Population::Engaged,
        Population::LoadedEngaged,
        Population::EngagedWithoutLoad,
        Population::CtaClicked,
        Population::ContactSubmitted,
        Population::Escalated,
        Population::Rated,
        Population::BotAnswered,
        Population::AgentAnswered,
        Population::HandoffAnswered,
        Population::WaitingForHuman,
        Population::Contained,
        Population::Abandoned,
        Population::Closed,
        Population::Reopened,
        Population::Resolved,
        Population::Satisfied,
    ];

    /// The populations the projector pre-aggregates per quarter hour (`started_quarters`): the
    /// first nine of [`Population::ALL`]. The others depend on the time of reading or are read
    /// with their percentiles, from the rows.
    pub const QUARTERED: &'static [Population] = Self::ALL.split_at(9).0;

    /// The value of `population=` that lists it.
    pub fn name(self) -> &'static str {
        match self {
            Population::Started => "started",
            Population::Loaded => "loaded",
            Population::Engaged => "engaged",
            Population::LoadedEngaged => "loaded_engaged",
            Population::EngagedWithoutLoad => "engaged_without_load",
            Population::CtaClicked => "cta_clicked",
            Population::ContactSubmitted => "contact_submitted",
            Population::Escalated => "escalated",
            Population::Rated => "rated",
            Population::BotAnswered => "bot_answered",
            Population::AgentAnswered => "agent_answered",
            Population::HandoffAnswered => "handoff_answered",
            Population::WaitingForHuman => "waiting_for_human",
            Population::Contained => "contained",
            Population::Abandoned => "abandoned",
            Population::Closed => "closed",
            Population::Reopened => "reopened",
            Population::Resolved => "resolved",
            Population::Satisfied => "satisfied",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Which rows of `conversations c` belong to it.
    pub fn predicate(self) -> &'static str {
        match self {
            Population::Started => "true",
            Population::Loaded => "c.widget_loaded_at IS NOT NULL",
            Population::Engaged => "c.engaged_at IS NOT NULL",
            Population::LoadedEngaged => {
                "c.widget_loaded_at IS NOT NULL AND c.engaged_at IS NOT NULL"
            }
            Population::EngagedWithoutLoad => {
                "c.engaged_at IS NOT NULL AND c.widget_loaded_at IS NULL"
            }
            Population::CtaClicked => "c.engaged_at IS NOT NULL AND c.cta_clicks > 0",
            Population::ContactSubmitted => "c.engaged_at IS NOT NULL AND c.contact_id IS NOT NULL",
            Population::Escalated => "c.engaged_at IS NOT NULL AND c.requires_human",
            Population::Rated => "c.rating IS NOT NULL",
            Population::BotAnswered => {
                "c.engaged_at IS NOT NULL AND c.bot_first_response_ms IS NOT NULL"
            }
            Population::AgentAnswered => {
                "c.engaged_at IS NOT NULL AND c.agent_first_response_ms IS NOT NULL"
            }
            Population::HandoffAnswered => {
                "c.engaged_at IS NOT NULL AND c.handoff_response_ms IS NOT NULL"
            }
            Population::WaitingForHuman => {
                "c.engaged_at IS NOT NULL AND c.handoff_at IS NOT NULL AND c.handoff_response_ms IS NULL"
            }
            Population::Contained => concat!(
                "c.engaged_at IS NOT NULL AND c.handoff_at IS NULL AND NOT c.unanswered AND ",
                over!()
            ),
            Population::Abandoned => concat!(
                "c.engaged_at IS NOT NULL AND c.handoff_at IS NULL AND c.unanswered AND ",
                over!()
            ),
            Population::Closed => "c.engaged_at IS NOT NULL AND c.closed_at IS NOT NULL",
            Population::Reopened => "c.engaged_at IS NOT NULL AND c.reopens > 0",
            Population::Resolved => "c.engaged_at IS NOT NULL AND c.status = 'closed'",
            Population::Satisfied => "c.rating >= 4",
        }
    }

    /// What it holds, in the words every document uses.
    pub fn definition(self) -> &'static str {
        match self {
            Population::Started => {
                "Conversations started in the range: their earliest event fell on one of its days"
            }
            Population::Loaded => "Conversations started in the range whose chat widget loaded",
            Population::Engaged => {
                "Conversations started in the range in which the visitor engaged (opened the chat or wrote)"
            }
            Population::LoadedEngaged => {
                "Conversations started in the range whose widget loaded and whose visitor engaged"
            }
            Population::EngagedWithoutLoad => {
                "Conversations started in the range in which the visitor engaged without a widget load (API clients, bridges)"
            }
            Population::CtaClicked => {
                "Engaged conversations started in the range in which a CTA was clicked"
            }
            Population::ContactSubmitted => {
                "Engaged conversations started in the range in which the visitor submitted contact details (a form: a `contact.identified` from the website's own systems makes a contact, not a contact conversation)"
            }
            Population::Escalated => {
                "Engaged conversations started in the range that were handed to a human: a message asked for one, or an admin flagged one"
            }
            Population::Rated => "Conversations started in the range that were rated",
            Population::BotAnswered => {
                "Engaged conversations started in the range in which the bot wrote after the visitor's first message"
            }
            Population::AgentAnswered => {
                "Engaged conversations started in the range in which an agent wrote after the visitor's first message"
            }
            Population::HandoffAnswered => {
                "Escalated conversations started in the range in which a human replied after the handoff"
            }
            Population::WaitingForHuman => {
                "Escalated conversations started in the range in which no human has replied since the handoff"
            }
            Population::Contained => {
                "Engaged conversations started in the range that are over (closed, or silent for the website's idle minutes), never handed off, whose visitor's last message was answered"
            }
            Population::Abandoned => {
                "Engaged conversations started in the range that are over, never handed off, whose visitor's last message got no answer"
            }
            Population::Closed => {
                "Engaged conversations started in the range that were closed at least once"
            }
            Population::Reopened => {
                "Engaged conversations started in the range in which the visitor wrote again after a close"
            }
            Population::Resolved => {
                "Engaged conversations started in the range that are closed now (no message since their latest close)"
            }
            Population::Satisfied => {
                "Conversations started in the range whose latest rating is 4 or 5"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_population_parses_back_from_its_name() {
        for p in Population::ALL {
            assert_eq!(Population::parse(p.name()), Some(p));
        }
        assert_eq!(Population::parse("everything"), None);
    }

    #[test]
    fn a_website_without_settings_has_the_default_idle_minutes() {
        let default = schemas::payloads::DEFAULT_IDLE_MINUTES;
        assert!(over!().contains(&format!("COALESCE(b.idle_minutes, {default})")));
    }

    #[test]
    fn the_docs_give_every_population_in_the_same_words() {
        let docs = include_str!("../../../docs/statistics.md");
        for p in Population::ALL {
            let row = format!("| `{}` |", p.name());
            let line = docs.lines().find(|l| l.starts_with(&row));
            let line = line.unwrap_or_else(|| panic!("docs/statistics.md lacks {}", p.name()));
            assert!(line.ends_with(&format!("| {} |", p.definition())), "{line}");
        }
    }
}
