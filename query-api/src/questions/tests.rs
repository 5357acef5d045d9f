//! The grouping on a fixture of real-looking questions: each topic's wordings (reordered,
//! misspelt, with and without filler, singular and plural, any case and punctuation) must make
//! exactly one group, and no group may hold two topics.

use super::*;

/// Topics, each with the ways visitors asked it.
const TOPICS: &[&[&str]] = &[
    &[
        "How much does shipping cost?",
        "how much is shipping",
        "Shipping cost?",
        "what are the shipping costs",
        "whats the cost of shipping",
        "shipping costs please",
        "How much does shiping cost",
        "cost of shipping?",
        "Hi, how much is the shipping cost?",
        "shipping cost??",
    ],
    &[
        "How long does delivery take?",
        "delivery time?",
        "what is the delivery time",
        "How long will the delivery take",
        "delivery times",
        "how long is delivery",
        "Delivery time please",
        "deliveries take how long?",
        "how long does delivery usually take",
    ],
    &[
        "Where is my order?",
        "track my order",
        "How can I track my order?",
        "order tracking",
        "Where's my order??",
        "I want to track my order",
        "tracking my order",
        "can i track the order",
        "where is my order",
        "Track order",
        "how do I track my orders",
    ],
    &[
        "How do I cancel my subscription?",
        "cancel subscription",
        "I want to cancel my subscription",
        "cancelling my subscription",
        "how to cancel the subscription?",
        "Cancel my subscribtion please",
        "subscription cancel",
        "can I cancel my subscription",
    ],
    &[
        "What is your return policy?",
        "return policy",
        "returns policy?",
        "whats your return policy",
        "Tell me about the return policy",
        "return policy please",
        "your policy on returns?",
    ],
    &[
        "Do you have a discount code?",
        "discount code?",
        "any discount codes",
        "Is there a discount code",
        "discount codes please",
        "where do I get a discount code",
        "do you have discount code",
    ],
    &[
        "I forgot my password",
        "forgot password",
        "Forgot my password, what now?",
        "I forgot the password",
        "forgotten password",
        "password forgot",
        "i forgot my pasword",
    ],
    &[
        "How do I change my email address?",
        "change email address",
        "can I change my email address",
        "changing my email address",
        "Change the email address on my account",
        "how to change email adress",
    ],
    &[
        "What are your opening hours?",
        "opening hours",
        "when are you open? opening hours?",
        "Opening hours on Sunday?",
        "your opening hours please",
        "whats the opening hours",
        "opening hour",
    ],
    &[
        "Can I pay with PayPal?",
        "paypal?",
        "Do you accept PayPal",
        "pay with paypal",
        "paying by paypal",
        "is paypal accepted",
        "PayPal payment?",
    ],
    &[
        "I want to speak to a human",
        "speak to a human",
        "can I speak to a human please",
        "Human please, speak to human",
        "let me speak with a human",
        "speaking to a human",
    ],
    &[
        "Is the jacket waterproof?",
        "jacket waterproof?",
        "is this jacket waterproof",
        "Are the jackets waterproof",
        "waterproof jacket?",
        "is the jacket water proof",
    ],
    &[
        "Do you have a size guide?",
        "size guide",
        "where is the size guide",
        "sizes guide?",
        "size chart",
        "is there a size chart",
        "Size table please",
    ],
    &[
        "Do you ship to Norway?",
        "shipping to norway",
        "can you ship to Norway",
        "Norway shipping?",
        "do you deliver to norway",
        "ship to Norway please",
    ],
    &[
        "My invoice is wrong",
        "wrong invoice",
        "the invoice is wrong",
        "Invoice wrong amount",
        "invoice has the wrong address",
        "my invoice is incorrect, wrong total",
    ],
    &[
        "Is the product in stock?",
        "in stock?",
        "product in stock",
        "are these products in stock",
        "is it in stock",
        "when will the product be back in stock",
    ],
    &[
        "How do I reset my router?",
        "reset router",
        "router reset",
        "how to reset the router",
        "resetting my router",
        "Router needs a reset",
    ],
    &[
        "Do you offer gift cards?",
        "gift cards?",
        "gift card",
        "can I buy a gift card",
        "do you sell gift cards",
        "Giftcard?",
        "gift cards for christmas",
    ],
    &[
        "How do I update my billing address?",
        "update billing address",
        "billing address update",
        "change billing address",
        "updating my billing address",
        "new billing address",
    ],
    &[
        "Can I book a demo?",
        "book a demo",
        "demo booking",
        "I'd like to book a demo",
        "booking a demo please",
        "schedule a demo",
        "demo?",
    ],
    &["hello", "Hello!", "hi", "hey", "Hi there", "hello?"],
    &[
        "Is there a student discount?",
        "student discount",
        "do you have a student discount",
        "student discounts?",
        "students discount please",
    ],
    &[
        "Can I change my delivery address?",
        "change delivery address",
        "change the delivery address",
        "changing delivery address after ordering",
        "new delivery address for my order",
    ],
    &[
        "What is the warranty on the laptop?",
        "laptop warranty",
        "warranty for laptops",
        "how long is the laptop warranty",
        "Laptop warranty period?",
    ],
];

/// The fixture, busiest topics repeated: a few hundred questions as a week of traffic holds.
fn fixture() -> (Vec<&'static str>, Vec<usize>) {
    let mut questions = Vec::new();
    let mut topic_of = Vec::new();
    for (t, wordings) in TOPICS.iter().enumerate() {
        // Earlier topics are asked more often, each wording at least once.
        let repeats = 1 + (TOPICS.len() - t) / 8;
        for _ in 0..repeats {
            for w in *wordings {
                questions.push(*w);
                topic_of.push(t);
            }
        }
    }
    (questions, topic_of)
}

#[test]
fn each_topic_is_one_group_and_no_group_holds_two() {
    let (questions, topic_of) = fixture();
    assert!(questions.len() >= 300, "{} questions", questions.len());
    let groups = group(&questions);
    let mut problems = Vec::new();
    for g in &groups {
        let topics: BTreeSet<usize> = g.members.iter().map(|&i| topic_of[i]).collect();
        if topics.len() > 1 {
            let texts: BTreeSet<&str> = g.members.iter().map(|&i| questions[i]).collect();
            problems.push(format!("one group holds topics {topics:?}: {texts:?}"));
        }
    }
    for (t, wordings) in TOPICS.iter().enumerate() {
        let holding: BTreeSet<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.members.iter().any(|&i| topic_of[i] == t))
            .map(|(n, _)| n)
            .collect();
        if holding.len() > 1 {
            let split: Vec<BTreeSet<&str>> = holding
                .iter()
                .map(|&n| groups[n].members.iter().map(|&i| questions[i]).collect())
                .collect();
            problems.push(format!("{:?} is split: {split:?}", wordings[0]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(groups.len(), TOPICS.len());
}

#[test]
fn groups_come_busiest_first_and_hold_every_question_once() {
    let questions = [
        "cancel subscription",
        "hello",
        "cancel my subscription",
        "hi",
        "hey",
    ];
    let groups = group(&questions);
    let sizes: Vec<usize> = groups.iter().map(|g| g.members.len()).collect();
    assert_eq!(sizes, [3, 2]);
    let mut all: Vec<usize> = groups.iter().flat_map(|g| g.members.clone()).collect();
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3, 4]);
}

#[test]
fn key_words_drop_filler_and_cut_endings() {
    assert_eq!(key_words("How much does SHIPPING cost?"), ["cost", "ship"]);
    assert_eq!(key_words("Where's my order??"), ["order", "track"]);
    assert_eq!(key_words("Hi there!"), ["hello"]);
    assert_eq!(key_words("Hi, what's the delivery fee?"), ["cost", "ship"]);
}
