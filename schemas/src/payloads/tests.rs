use super::*;
use serde_json::json;

#[test]
fn a_version_1_message_is_upcast_to_version_2() {
    let p = Payload::parse(
        EventType::MessageSent,
        1,
        json!({"sender": "bot", "text": "hi", "response_time_ms": 300}),
    )
    .unwrap();
    let Payload::MessageSent(m) = p else {
        panic!("not a message")
    };
    assert_eq!(m.sender, SenderRef::role(Sender::Bot));
    assert_eq!(m.response_time_ms, Some(300));
}

#[test]
fn a_version_2_message_names_its_sender() {
    let p = Payload::parse(
        EventType::MessageSent,
        2,
        json!({"sender": {"type": "agent", "id": "a-7", "name": "Sam"}, "text": "hi"}),
    )
    .unwrap();
    let Payload::MessageSent(m) = p else {
        panic!("not a message")
    };
    assert_eq!(m.sender.kind, Sender::Agent);
    assert_eq!(m.sender.name.as_deref(), Some("Sam"));
    // A bare role is the version 1 shape: at version 2 it is an error that says so.
    let err = Payload::parse(
        EventType::MessageSent,
        2,
        json!({"sender": "user", "text": "x"}),
    )
    .unwrap_err();
    assert_eq!(err.field, "payload.sender");
    let err = Payload::parse(
        EventType::MessageSent,
        2,
        json!({"sender": {"type": "robot"}, "text": "x"}),
    )
    .unwrap_err();
    assert_eq!(err.field, "payload.sender.type");
}

#[test]
fn every_type_name_round_trips() {
    for &t in EventType::ALL {
        assert_eq!(EventType::from_name(t.name()), Some(t));
    }
    assert_eq!(EventType::from_name("message.deleted"), None);
}

#[test]
fn a_message_with_an_unknown_sender_names_the_field_and_the_choices() {
    let err = Payload::parse(
        EventType::MessageSent,
        1,
        json!({"sender": "robot", "text": "hi"}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "payload.sender: expected one of user, bot, agent"
    );
}

#[test]
fn a_message_without_text_names_the_missing_field() {
    let err = Payload::parse(EventType::MessageSent, 1, json!({"sender": "user"})).unwrap_err();
    assert_eq!(err.field, "payload.text");
    assert_eq!(err.message, "is required");
}

#[test]
fn a_mistyped_response_time_names_the_field() {
    let err = Payload::parse(
        EventType::MessageSent,
        1,
        json!({"sender": "bot", "text": "hi", "response_time_ms": "fast"}),
    )
    .unwrap_err();
    assert_eq!(err.field, "payload.response_time_ms");
}

/// Found by Schemathesis: two answers near `u64::MAX` in one conversation overflowed the
/// read models' `bigint` sums, and the projector retried that batch forever.
#[test]
fn a_response_time_over_30_days_is_rejected() {
    let parse = |ms: u64| {
        Payload::parse(
            EventType::MessageSent,
            1,
            json!({"sender": "bot", "text": "hi", "response_time_ms": ms}),
        )
    };
    assert!(parse(limits::RESPONSE_TIME_MS).is_ok());
    let err = parse(limits::RESPONSE_TIME_MS + 1).unwrap_err();
    assert_eq!(err.field, "payload.response_time_ms");
    assert_eq!(
        parse(u64::MAX).unwrap_err().field,
        "payload.response_time_ms"
    );
}

#[test]
fn a_confidence_score_above_one_is_rejected() {
    let err = Payload::parse(
        EventType::MessageSent,
        1,
        json!({"sender": "bot", "text": "hi", "confidence_score": 1.5}),
    )
    .unwrap_err();
    assert_eq!(err.field, "payload.confidence_score");
}

#[test]
fn a_version_newer_than_the_current_one_is_rejected() {
    let err = Payload::parse(EventType::WidgetLoaded, 9, json!({})).unwrap_err();
    assert_eq!(err.field, "schema_version");
}

#[test]
fn an_overlong_page_url_is_rejected() {
    let url = "x".repeat(limits::URL_CHARS + 1);
    let err = Payload::parse(EventType::WidgetLoaded, 1, json!({"page_url": url})).unwrap_err();
    assert_eq!(err.field, "payload.page_url");
}

#[test]
fn a_contact_submission_needs_an_email_or_a_phone() {
    let err =
        Payload::parse(EventType::ContactSubmitted, 1, json!({"name": "Olivia"})).unwrap_err();
    assert_eq!(err.field, "payload.email");
    assert!(
        Payload::parse(
            EventType::ContactSubmitted,
            1,
            json!({"phone": "+482-719-364"})
        )
        .is_ok()
    );
}

#[test]
fn an_identification_needs_a_well_formed_email_or_phone() {
    let parse = |v| Payload::parse(EventType::ContactIdentified, 1, v);
    let err = parse(json!({"customer_id": "u-1", "name": "Grace"})).unwrap_err();
    assert_eq!(err.field, "payload.email");
    assert_eq!(
        parse(json!({"email": "grace at navy"})).unwrap_err().field,
        "payload.email"
    );
    assert!(parse(json!({"customer_id": "u-1", "phone": "+1 202 555 0100"})).is_ok());
    assert_eq!(EventType::ContactIdentified.producer(), Producer::Client);
}

#[test]
fn a_malformed_email_or_phone_is_rejected() {
    let bad_email = json!({"email": "olivia at lumoco"});
    assert_eq!(
        Payload::parse(EventType::ContactSubmitted, 1, bad_email)
            .unwrap_err()
            .field,
        "payload.email"
    );
    let bad_phone = json!({"email": "o@lumoco.dev", "phone": "call me"});
    assert_eq!(
        Payload::parse(EventType::ContactSubmitted, 1, bad_phone)
            .unwrap_err()
            .field,
        "payload.phone"
    );
}

#[test]
fn chat_context_accepts_the_widgets_is_user_spelling() {
    let p = Payload::parse(
        EventType::ContactSubmitted,
        1,
        json!({"email": "o@lumoco.dev", "chat_context": [{"text": "hi", "isUser": true}]}),
    )
    .unwrap();
    let Payload::ContactSubmitted(c) = p else {
        panic!("wrong type")
    };
    assert!(c.chat_context[0].is_user);
}

#[test]
fn a_rating_outside_one_to_five_is_rejected() {
    for rating in [0, 6] {
        let err =
            Payload::parse(EventType::ConversationRated, 1, json!({"rating": rating})).unwrap_err();
        assert_eq!(err.field, "payload.rating");
    }
}

#[test]
fn a_status_change_names_an_unknown_status() {
    let err = Payload::parse(
        EventType::ContactRequestStatusChanged,
        1,
        json!({"request_id": "r1", "status": "done", "expected_status": "pending"}),
    )
    .unwrap_err();
    assert_eq!(err.field, "payload.status");
}

#[test]
fn a_merge_cannot_merge_the_survivor_into_itself() {
    let err = Payload::parse(
        EventType::ContactsMerged,
        1,
        json!({"surviving_contact_id": "a", "merged_contact_ids": ["b", "a"]}),
    )
    .unwrap_err();
    assert_eq!(err.field, "payload.merged_contact_ids");
}

#[test]
fn every_type_has_a_producer_and_admin_actions_are_admin_only() {
    for t in [
        EventType::ContactErased,
        EventType::WebsiteCreated,
        EventType::ContactRequestStatusChanged,
    ] {
        assert_eq!(t.producer(), Producer::Admin, "{t:?}");
    }
    for t in [
        EventType::WidgetLoaded,
        EventType::MessageSent,
        EventType::ContactSubmitted,
    ] {
        assert_eq!(t.producer(), Producer::Client, "{t:?}");
    }
}

#[test]
fn the_catalogue_holds_every_type_the_design_names() {
    let names: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
    for name in [
        "widget.loaded",
        "conversation.started",
        "message.sent",
        "cta.clicked",
        "contact.submitted",
        "conversation.rated",
        "conversation.closed",
        "message.flagged_for_human",
        "message.human_replied",
        "contact_request.status_changed",
        "contact.updated",
        "contacts.merged",
        "contact.erased",
        "website.created",
        "token.created",
        "website.privacy_changed",
        "retention.applied",
        "customer.erased",
        "website.time_zone_changed",
        "website.bot_settings_changed",
    ] {
        assert!(names.contains(&name), "{name} missing");
    }
}
