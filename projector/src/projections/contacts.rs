//! The `contacts` read model: who the people behind the conversations are.
//!
//! A person is known by identifiers, a normalised e-mail address or phone number, each reduced
//! to a key. A submission is matched by its e-mail first, then its phone: its e-mail's key is
//! its contact, and when it also carries a phone, the phone is linked to that contact, so a later
//! submission with only the phone lands there too. An admin merge links the contacts it names.
//!
//! Links are only ever added, so the contacts are the connected components of the keys, which
//! do not depend on the order the links arrive in. A contact's id is the key of its best-ranked
//! member ([`Identity::rank`]), a function of the members alone, so ids converge as well; an id
//! that stops being the best keeps resolving to its contact, because every key remembers which
//! contact it belongs to.
//!
//! Erasure follows the same links: erasing a contact erases every submission, conversation and
//! message connected to any of its keys, now or when they arrive later.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use schemas::payloads::LeadStatus;
use schemas::{Event, Payload};
use uuid::Uuid;

pub use schemas::contact_keys::{
    Kind, email_key, key, normalise_email, normalise_phone, phone_key,
};

/// What one `contact.submitted` (a form in the chat) or `contact.identified` (the website's
/// own systems naming the visitor) says about a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub event_id: Uuid,
    pub website_id: String,
    pub conversation_id: String,
    /// The contact request a form made; none for an identification, which asks for nothing
    /// and so neither counts as a request nor makes the conversation a contact conversation.
    pub request_id: Option<String>,
    pub email_key: Option<String>,
    pub phone_key: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub channel: String,
    pub occurred_at: DateTime<Utc>,
}

impl Observation {
    pub fn from_event(event: &Event) -> Option<Self> {
        let (request_id, name, email, phone) = match &event.payload {
            Payload::ContactSubmitted(c) => (
                // The same id the contact request gets.
                Some(
                    c.request_id
                        .clone()
                        .unwrap_or_else(|| event.event_id.to_string()),
                ),
                &c.name,
                &c.email,
                &c.phone,
            ),
            Payload::ContactIdentified(c) => (None, &c.name, &c.email, &c.phone),
            _ => return None,
        };
        let website = &event.website_id;
        Some(Self {
            event_id: event.event_id,
            website_id: website.clone(),
            conversation_id: event.conversation_id.clone(),
            request_id,
            // An observation whose personal fields were erased still names its keys.
            email_key: email
                .as_deref()
                .map(|e| email_key(website, e))
                .or_else(|| event.context.pseudonyms.email.clone()),
            phone_key: phone
                .as_deref()
                .map(|p| phone_key(website, p))
                .or_else(|| event.context.pseudonyms.phone.clone()),
            name: name.clone(),
            email: email.clone(),
            phone: phone.clone(),
            channel: event.context.channel.clone(),
            occurred_at: event.occurred_at,
        })
    }

    /// The key the submission is filed under: its e-mail's, else its phone's. Validation
    /// guarantees one of them.
    pub fn key(&self) -> &str {
        self.email_key
            .as_deref()
            .or(self.phone_key.as_deref())
            .unwrap_or_default()
    }
}

/// One `contact.updated`.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub event_id: Uuid,
    pub website_id: String,
    pub key: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub lead_status: Option<&'static str>,
    pub occurred_at: DateTime<Utc>,
}

impl Edit {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::ContactUpdated(c) = &event.payload else {
            return None;
        };
        Some(Self {
            event_id: event.event_id,
            website_id: event.website_id.clone(),
            key: c.contact_id.clone(),
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            notes: c.notes.clone(),
            lead_status: c.lead_status.map(lead_status_str),
            occurred_at: event.occurred_at,
        })
    }
}

pub fn lead_status_str(status: LeadStatus) -> &'static str {
    match status {
        LeadStatus::New => "new",
        LeadStatus::Active => "active",
        LeadStatus::FollowUp => "follow_up",
        LeadStatus::Archived => "archived",
    }
}

/// What one key has been seen as. Merged commutatively: the earliest sighting, the strongest
/// kind, flags that once set stay set, the latest erasure.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub website_id: String,
    pub key: String,
    pub kind: Kind,
    pub first_seen: Option<(DateTime<Utc>, Uuid)>,
    pub merged_away: bool,
    pub survivor: bool,
    pub erased_at: Option<DateTime<Utc>>,
}

impl Identity {
    fn named(website_id: &str, key: &str) -> Self {
        Self {
            website_id: website_id.to_owned(),
            key: key.to_owned(),
            kind: Kind::Named,
            first_seen: None,
            merged_away: false,
            survivor: false,
            erased_at: None,
        }
    }

    pub fn merge(&mut self, other: &Identity) {
        self.kind = self.kind.min(other.kind);
        self.first_seen = match (self.first_seen, other.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.merged_away |= other.merged_away;
        self.survivor |= other.survivor;
        self.erased_at = self.erased_at.max(other.erased_at);
    }

    /// Lower ranks first. A contact is named after its first-ranked key: never one an admin
    /// merged away while another is left; one an admin chose to keep; an e-mail before a phone;
    /// then the earliest seen; the key itself breaks the last tie.
    #[allow(clippy::type_complexity)]
    pub fn rank(&self) -> (bool, bool, Kind, bool, Option<(DateTime<Utc>, Uuid)>, &str) {
        (
            self.merged_away,
            !self.survivor,
            self.kind,
            self.first_seen.is_none(),
            self.first_seen,
            &self.key,
        )
    }
}

/// Everything a batch says about contacts.
#[derive(Debug, Default, PartialEq)]
pub struct ContactChanges {
    pub observations: Vec<Observation>,
    pub edits: Vec<Edit>,
    /// What the batch says about each key it mentions, merged per key.
    pub identities: Vec<Identity>,
    /// Pairs of keys that belong to the same person: (website, key, key).
    pub links: Vec<(String, String, String)>,
}

impl ContactChanges {
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}

pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> ContactChanges {
    let mut changes = ContactChanges::default();
    let mut identities: HashMap<(String, String), Identity> = HashMap::new();
    let mut note = |identity: Identity| {
        identities
            .entry((identity.website_id.clone(), identity.key.clone()))
            .and_modify(|i| i.merge(&identity))
            .or_insert(identity);
    };
    for event in events {
        let website = event.website_id.as_str();
        let seen = Some((event.occurred_at, event.event_id));
        match &event.payload {
            Payload::ContactSubmitted(_) | Payload::ContactIdentified(_) => {
                let Some(o) = Observation::from_event(event) else {
                    continue;
                };
                for (key, kind) in [(&o.email_key, Kind::Email), (&o.phone_key, Kind::Phone)] {
                    if let Some(key) = key {
                        note(Identity {
                            kind,
                            first_seen: seen,
                            ..Identity::named(website, key)
                        });
                    }
                }
                if let (Some(e), Some(p)) = (&o.email_key, &o.phone_key) {
                    changes
                        .links
                        .push((website.to_owned(), e.clone(), p.clone()));
                }
                changes.observations.push(o);
            }
            Payload::ContactUpdated(_) => {
                let Some(edit) = Edit::from_event(event) else {
                    continue;
                };
                note(Identity::named(website, &edit.key));
                changes.edits.push(edit);
            }
            Payload::ContactsMerged(m) => {
                note(Identity {
                    survivor: true,
                    ..Identity::named(website, &m.surviving_contact_id)
                });
                for merged in &m.merged_contact_ids {
                    note(Identity {
                        merged_away: true,
                        ..Identity::named(website, merged)
                    });
                    changes.links.push((
                        website.to_owned(),
                        merged.clone(),
                        m.surviving_contact_id.clone(),
                    ));
                }
            }
            Payload::ContactErased(e) => note(Identity {
                erased_at: Some(event.occurred_at),
                ..Identity::named(website, &e.contact_id)
            }),
            _ => {}
        }
    }
    changes.identities = identities.into_values().collect();
    changes
        .identities
        .sort_by(|a, b| (&a.website_id, &a.key).cmp(&(&b.website_id, &b.key)));
    changes
}

/// Groups keys into contacts. `members` are the keys of every contact a batch touches, each
/// with the contact it belonged to before (`contact_id`, itself one of the keys); `links` are
/// the batch's new links. Returns the contact each member belongs to now, for every member.
pub fn assign(
    members: &[(Identity, String)],
    links: &[(String, String, String)],
) -> HashMap<(String, String), String> {
    let index: HashMap<(&str, &str), usize> = members
        .iter()
        .enumerate()
        .map(|(i, (m, _))| ((m.website_id.as_str(), m.key.as_str()), i))
        .collect();
    let mut parent: Vec<usize> = (0..members.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut union = |a: usize, b: usize| {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra] = rb;
        }
    };
    for (i, (m, contact)) in members.iter().enumerate() {
        if let Some(&j) = index.get(&(m.website_id.as_str(), contact.as_str())) {
            union(i, j);
        }
    }
    for (website, a, b) in links {
        if let (Some(&i), Some(&j)) = (
            index.get(&(website.as_str(), a.as_str())),
            index.get(&(website.as_str(), b.as_str())),
        ) {
            union(i, j);
        }
    }
    let mut best: HashMap<usize, usize> = HashMap::new();
    for i in 0..members.len() {
        let root = find(&mut parent, i);
        best.entry(root)
            .and_modify(|b| {
                if members[i].0.rank() < members[*b].0.rank() {
                    *b = i;
                }
            })
            .or_insert(i);
    }
    (0..members.len())
        .map(|i| {
            let root = find(&mut parent, i);
            let (m, _) = &members[i];
            (
                (m.website_id.clone(), m.key.clone()),
                members[best[&root]].0.key.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::tests::{at, event};
    use schemas::payloads::{ContactErased, ContactSubmitted, ContactUpdated, ContactsMerged};

    fn submitted(conversation: &str, t: i64, email: Option<&str>, phone: Option<&str>) -> Event {
        event(
            conversation,
            at(t),
            Payload::ContactSubmitted(ContactSubmitted {
                request_id: None,
                name: Some("Olivia".into()),
                email: email.map(Into::into),
                phone: phone.map(Into::into),
                message: None,
                chat_context: vec![],
            }),
        )
    }

    /// Applies `batches` one after another the way the store does, and returns each key's
    /// contact at the end.
    fn contacts_after(batches: &[Vec<Event>]) -> HashMap<String, String> {
        let mut stored: HashMap<(String, String), (Identity, String)> = HashMap::new();
        for batch in batches {
            let changes = fold(batch);
            for identity in &changes.identities {
                let k = (identity.website_id.clone(), identity.key.clone());
                stored
                    .entry(k)
                    .and_modify(|(i, _)| i.merge(identity))
                    .or_insert_with(|| (identity.clone(), identity.key.clone()));
            }
            let members: Vec<_> = stored.values().cloned().collect();
            for (k, contact) in assign(&members, &changes.links) {
                if let Some(entry) = stored.get_mut(&k) {
                    entry.1 = contact;
                }
            }
        }
        stored.into_iter().map(|((_, k), (_, c))| (k, c)).collect()
    }

    #[test]
    fn emails_and_phones_are_normalised_before_matching() {
        assert_eq!(
            normalise_email("  Olivia@Example.COM "),
            "olivia@example.com"
        );
        assert_eq!(normalise_phone("+1 (555) 010-2030"), "+15550102030");
        assert_eq!(normalise_phone("0044 20 7946 0000"), "+442079460000");
        assert_eq!(
            email_key("demo", "OLIVIA@example.com"),
            email_key("demo", "olivia@example.com ")
        );
        assert_ne!(
            email_key("demo", "olivia@example.com"),
            email_key("other", "olivia@example.com")
        );
        assert_ne!(
            key("demo", Kind::Email, "5550102"),
            key("demo", Kind::Phone, "5550102")
        );
    }

    #[test]
    fn given_a_phone_only_contact_when_the_phone_comes_with_an_email_then_one_contact_named_by_the_email()
     {
        let phone_first = submitted("c1", 0, None, Some("555 0102"));
        let both = submitted("c2", 10, Some("olivia@example.com"), Some("5550102"));
        let e = email_key("demo", "olivia@example.com");
        let p = phone_key("demo", "5550102");
        for batches in [
            vec![vec![phone_first.clone()], vec![both.clone()]],
            vec![vec![both.clone()], vec![phone_first.clone()]],
            vec![vec![both.clone(), phone_first.clone()]],
        ] {
            let contacts = contacts_after(&batches);
            assert_eq!(contacts[&p], e);
            assert_eq!(contacts[&e], e);
        }
    }

    #[test]
    fn given_two_emails_then_two_contacts() {
        let contacts = contacts_after(&[vec![
            submitted("c1", 0, Some("a@example.com"), None),
            submitted("c2", 1, Some("b@example.com"), None),
        ]]);
        assert_ne!(
            contacts[&email_key("demo", "a@example.com")],
            contacts[&email_key("demo", "b@example.com")]
        );
    }

    #[test]
    fn given_a_merge_then_the_survivor_names_the_contact_in_any_order() {
        let a = submitted("c1", 0, Some("a@example.com"), None);
        let b = submitted("c2", 1, Some("b@example.com"), None);
        let (ka, kb) = (
            email_key("demo", "a@example.com"),
            email_key("demo", "b@example.com"),
        );
        // The later contact survives, against the usual earliest-first naming.
        let merge = event(
            "",
            at(5),
            Payload::ContactsMerged(ContactsMerged {
                surviving_contact_id: kb.clone(),
                merged_contact_ids: vec![ka.clone()],
            }),
        );
        for batches in [
            vec![vec![a.clone()], vec![b.clone()], vec![merge.clone()]],
            vec![vec![merge.clone()], vec![b.clone()], vec![a.clone()]],
            vec![vec![b.clone(), merge.clone(), a.clone()]],
        ] {
            let contacts = contacts_after(&batches);
            assert_eq!(contacts[&ka], kb);
            assert_eq!(contacts[&kb], kb);
        }
    }

    #[test]
    fn given_a_chain_of_merges_then_the_last_survivor_names_the_contact() {
        let ids: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|n| email_key("demo", &format!("{n}@example.com")))
            .collect();
        let merge = |survivor: &str, merged: &str, t| {
            event(
                "",
                at(t),
                Payload::ContactsMerged(ContactsMerged {
                    surviving_contact_id: survivor.into(),
                    merged_contact_ids: vec![merged.into()],
                }),
            )
        };
        // c into b, then b into a: a survives.
        let contacts = contacts_after(&[
            vec![merge(&ids[0], &ids[1], 2)],
            vec![merge(&ids[1], &ids[2], 1)],
        ]);
        assert!(ids.iter().all(|k| contacts[k] == ids[0]));
    }

    #[test]
    fn admin_events_name_the_key_they_were_given() {
        let changes = fold([
            &event(
                "",
                at(0),
                Payload::ContactUpdated(ContactUpdated {
                    contact_id: "k1".into(),
                    name: None,
                    email: None,
                    phone: None,
                    notes: Some("call back".into()),
                    lead_status: Some(LeadStatus::FollowUp),
                }),
            ),
            &event(
                "",
                at(1),
                Payload::ContactErased(ContactErased {
                    contact_id: "k2".into(),
                }),
            ),
        ]);
        assert_eq!(changes.edits.len(), 1);
        assert_eq!(changes.edits[0].lead_status, Some("follow_up"));
        let keys: Vec<_> = changes.identities.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["k1", "k2"]);
        assert_eq!(changes.identities[1].erased_at, Some(at(1)));
        assert!(changes.links.is_empty());
    }
}
