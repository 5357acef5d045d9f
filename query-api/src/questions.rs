//! Grouping visitors' questions so that near-identical ones count as one: what a bot owner reads
//! to decide what to teach the bot next (`GET /v1/bot-quality`).
//!
//! A question is reduced to the words that carry its meaning (lower case, no punctuation, no
//! function words, plural and verb endings cut, common synonyms of support talk made one), and
//! two questions are alike when the words they share weigh enough of all their words, a word
//! weighing less the more questions use it. Words match when spelt the same or nearly so: the
//! trigram measure of Postgres' `pg_trgm`, computed here because the grouping is greedy and
//! needs every candidate at hand. Wordings are taken busiest first; each joins the group whose
//! wordings it is most like, or starts one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How alike two questions must be to be grouped (see [`alike`]).
const ALIKE: f64 = 0.4;

/// How many of a group's wordings a new one is compared with: its most common ones, which
/// came first. Comparing with all made grouping 5,000 questions take seconds.
const COMPARED: usize = 8;

/// How alike two words must be to count as one (a misspelling): shared trigrams over all.
const SAME_WORD: f64 = 0.5;

/// Words that say little about what was asked.
const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "accept", "after", "am", "an", "and", "any", "anyone", "are", "at", "be", "can",
    "could", "do", "does", "for", "from", "get", "have", "how", "i", "id", "if", "im", "in", "is",
    "it", "its", "ive", "let", "like", "me", "my", "need", "now", "of", "on", "or", "please",
    "pls", "should", "so", "someone", "take", "tell", "thanks", "that", "the", "there", "these",
    "this", "those", "to", "u", "usually", "want", "was", "we", "what", "whats", "when", "which",
    "who", "why", "will", "with", "would", "you", "your",
];

/// Words support visitors use for the same thing, each mapped to one of them.
const SYNONYMS: &[(&str, &str)] = &[
    ("hey", "hello"),
    ("hi", "hello"),
    ("hallo", "hello"),
    ("deliver", "ship"),
    ("delivery", "ship"),
    ("shipment", "ship"),
    ("price", "cost"),
    ("fee", "cost"),
    ("charge", "cost"),
    ("long", "time"),
    ("much", "cost"),
    ("update", "change"),
    ("new", "change"),
    ("edit", "change"),
    ("schedule", "book"),
    ("chart", "guide"),
    ("table", "guide"),
    ("where", "track"),
    ("wheres", "track"),
    ("purchase", "buy"),
    ("incorrect", "wrong"),
    ("giftcard", "gift card"),
];

/// Greetings: the question when nothing else was said, and noise beside anything else.
const GREETINGS: &[&str] = &["hello"];

/// The words of `text` that carry its meaning, in order, each cut to a stem and put in the
/// words of [`SYNONYMS`].
pub fn key_words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace(['\'', '’'], "");
    let mut words: Vec<String> = Vec::new();
    for word in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = SYNONYMS
            .iter()
            .find(|(from, _)| *from == word)
            .map_or(word, |(_, to)| *to);
        for part in word.split(' ') {
            let stemmed = stem(part);
            let stemmed = SYNONYMS
                .iter()
                .find(|(from, _)| *from == stemmed)
                .map_or(stemmed.clone(), |(_, to)| (*to).to_owned());
            if !FUNCTION_WORDS.contains(&part) && !FUNCTION_WORDS.contains(&stemmed.as_str()) {
                words.push(stemmed);
            }
        }
    }
    if words.iter().any(|w| !GREETINGS.contains(&w.as_str())) {
        words.retain(|w| !GREETINGS.contains(&w.as_str()));
    }
    words.sort();
    words.dedup();
    words
}

/// A crude English stem: enough that "shipping", "ships" and "shipped" meet.
fn stem(word: &str) -> String {
    let cut = |suffix: &str, keep: usize| {
        word.strip_suffix(suffix)
            .filter(|rest| rest.chars().count() >= keep)
    };
    if let Some(rest) = cut("ies", 3) {
        return format!("{rest}y");
    }
    let stem = cut("ing", 3)
        .or_else(|| cut("ed", 3))
        .or_else(|| cut("es", 3).filter(|r| r.ends_with(['s', 'x', 'z', 'h'])))
        .or_else(|| cut("s", 3).filter(|r| !r.ends_with('s')))
        .unwrap_or(word);
    // "shipping" -> "shipp" -> "ship".
    let mut chars: Vec<char> = stem.chars().collect();
    if chars.len() > 3 && chars[chars.len() - 1] == chars[chars.len() - 2] {
        chars.pop();
    }
    chars.into_iter().collect()
}

/// The trigrams of `word` as `pg_trgm` makes them: two spaces before it and one after.
fn trigrams(word: &str) -> BTreeSet<[char; 3]> {
    let padded: Vec<char> = "  ".chars().chain(word.chars()).chain([' ']).collect();
    padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect()
}

/// Shared trigrams over all trigrams of the two: 1 for the same word.
fn word_similarity(a: &BTreeSet<[char; 3]>, b: &BTreeSet<[char; 3]>) -> f64 {
    let shared = a.intersection(b).count();
    let all = a.len() + b.len() - shared;
    if all == 0 {
        0.0
    } else {
        shared as f64 / all as f64
    }
}

/// A key word of a wording: the word, its trigrams, its weight, and how many questions use it.
type Word = (String, BTreeSet<[char; 3]>, f64, usize);

/// One wording: its key words, and their total weight.
struct Wording {
    words: Vec<Word>,
    weight: f64,
}

/// Whether `w` is two of `others` run together ("waterproof", "water proof").
fn compound(w: &str, others: &[Word]) -> bool {
    others.iter().any(|(a, ..)| {
        w.strip_prefix(a.as_str())
            .is_some_and(|rest| others.iter().any(|(b, ..)| b == rest))
    })
}

/// Whether `w` and another of `mine`, run together, are one of `others`.
fn split(w: &str, mine: &[Word], others: &[Word]) -> bool {
    let joins = |v: &str, first: &str, second: &str| {
        v.len() == first.len() + second.len() && v.starts_with(first) && v.ends_with(second)
    };
    mine.iter().any(|(u, ..)| {
        u != w
            && others
                .iter()
                .any(|(v, ..)| joins(v, w, u) || joins(v, u, w))
    })
}

/// How alike two wordings are, 0 to 1: the weight of the words each shares with the other
/// (the same word, or one spelt almost the same) over the weight of all their words. A word
/// weighs less the more wordings use it. Two wordings that each have a word of their own which
/// was asked more than once ("change my *email* address", "change my *billing* address") ask
/// different things, whatever else they share: 0.
fn alike(a: &Wording, b: &Wording) -> f64 {
    let matched = |x: &Wording, y: &Wording| -> Vec<bool> {
        x.words
            .iter()
            .map(|(w, grams, _, _)| {
                y.words
                    .iter()
                    .any(|(v, other, _, _)| v == w || word_similarity(grams, other) >= SAME_WORD)
                    || compound(w, &y.words)
                    || split(w, &x.words, &y.words)
            })
            .collect()
    };
    let (in_b, in_a) = (matched(a, b), matched(b, a));
    let own_topic =
        |x: &Wording, matched: &[bool]| x.words.iter().zip(matched).any(|(w, m)| !m && w.3 >= 2);
    if own_topic(a, &in_b) && own_topic(b, &in_a) {
        return 0.0;
    }
    let shared = |x: &Wording, matched: &[bool]| -> f64 {
        x.words
            .iter()
            .zip(matched)
            .filter(|(_, m)| **m)
            .map(|(w, _)| w.2)
            .sum()
    };
    let all = a.weight + b.weight;
    if all == 0.0 {
        0.0
    } else {
        (shared(a, &in_b) + shared(b, &in_a)) / all
    }
}

/// One group: the indexes of its questions in the input, the most common wording first.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub members: Vec<usize>,
}

/// Groups `questions` (their texts); the groups come busiest first, then by their first
/// question's position, and every question is in exactly one.
pub fn group<S: AsRef<str>>(questions: &[S]) -> Vec<Group> {
    // Questions with the same key words are one wording.
    let mut by_words: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
    for (i, q) in questions.iter().enumerate() {
        by_words.entry(key_words(q.as_ref())).or_default().push(i);
    }
    let mut by_words: Vec<(Vec<String>, Vec<usize>)> = by_words.into_iter().collect();
    by_words.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.1[0].cmp(&b.1[0])));
    // How many wordings use each word, and how many questions.
    let mut used: HashMap<&str, usize> = HashMap::new();
    let mut asked: HashMap<&str, usize> = HashMap::new();
    for (words, members) in &by_words {
        for w in words {
            *used.entry(w.as_str()).or_default() += 1;
            *asked.entry(w.as_str()).or_default() += members.len();
        }
    }
    let n = by_words.len() as f64;
    let wordings: Vec<Wording> = by_words
        .iter()
        .map(|(words, _)| {
            let words: Vec<Word> = words
                .iter()
                .map(|w| {
                    let weight = (1.0 + n / used[w.as_str()] as f64).ln();
                    (w.clone(), trigrams(w), weight, asked[w.as_str()])
                })
                .collect();
            let weight = words.iter().map(|w| w.2).sum();
            Wording { words, weight }
        })
        .collect();

    // Each group's wordings, and which groups hold each trigram (the candidates for a wording).
    let mut groups: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    let mut holding: HashMap<[char; 3], BTreeSet<usize>> = HashMap::new();
    for (k, (_, members)) in by_words.iter().enumerate() {
        let grams: BTreeSet<[char; 3]> = wordings[k]
            .words
            .iter()
            .flat_map(|w| w.1.iter().copied())
            .collect();
        let candidates: BTreeSet<usize> = grams
            .iter()
            .filter_map(|g| holding.get(g))
            .flatten()
            .copied()
            .collect();
        let best = candidates
            .into_iter()
            .map(|g| {
                let (held, _) = &groups[g];
                // Alike the group's first (most common) wording too, not only one of its
                // others, so that a chain of small changes does not join different questions.
                let first = alike(&wordings[k], &wordings[held[0]]);
                let closest = held
                    .iter()
                    .take(COMPARED)
                    .map(|&h| alike(&wordings[k], &wordings[h]))
                    .fold(0.0, f64::max);
                (g, first, closest)
            })
            .filter(|(_, first, closest)| *closest >= ALIKE && *first >= ALIKE * 0.6)
            .max_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)));
        let g = match best {
            Some((g, _, _)) => g,
            None => {
                groups.push((Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        for gram in grams {
            holding.entry(gram).or_default().insert(g);
        }
        groups[g].0.push(k);
        groups[g].1.extend(members.iter().copied());
    }
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|(_, members)| Group { members })
        .collect();
    out.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.members[0].cmp(&b.members[0]))
    });
    out
}

#[cfg(test)]
mod tests;
