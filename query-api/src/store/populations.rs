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
}

impl Population {
    pub const ALL: [Population; 9] = [
        Population::Started,
        Population::Loaded,
        Population::Engaged,
        Population::LoadedEngaged,
        Population::EngagedWithoutLoad,
        Population::CtaClicked,
        Population::ContactSubmitted,
        Population::Escalated,
        Population::Rated,
    ];

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
                "Engaged conversations started in the range in which the visitor submitted contact details"
            }
            Population::Escalated => {
                "Engaged conversations started in the range in which a message asked for a human"
            }
            Population::Rated => "Conversations started in the range that were rated",
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
