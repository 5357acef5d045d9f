//! Which admin records the projector applies: those whose proof of origin checks out
//! ([`runtime::proof`]), and those written before proofs were required. Anything else that
//! claims to be an admin event is dead-lettered with the reason and changes nothing, however it
//! reached the topic.
//!
//! When a projector that checks proofs first starts, it notes the end of every partition in
//! `colloquy.admin_proofs_from`: records below it were written before proofs existed, and
//! replay as they always did; every record after must prove itself. A partition without a row
//! (a new topic) requires proofs from its start.

use std::collections::HashMap;

use rdkafka::Message;
use rdkafka::message::{Headers, OwnedMessage};
use runtime::proof::{AdminKeys, Unproven};
use schemas::topics::PROOF_HEADER;
use schemas::{Event, Producer};
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct Proofs {
    keys: AdminKeys,
    /// Per partition, the first offset whose admin records must be proven.
    from: HashMap<i32, i64>,
}

impl Proofs {
    /// Notes where proofs start for the partitions of `topic` that have no such note yet (at
    /// `ends`, each partition's end now), and loads every note.
    pub async fn load(
        meta: &PgPool,
        keys: AdminKeys,
        topic: &str,
        ends: &[(i32, i64)],
    ) -> Result<Self, sqlx::Error> {
        let (partitions, offsets): (Vec<i32>, Vec<i64>) = ends.iter().copied().unzip();
        sqlx::query(
            "INSERT INTO colloquy.admin_proofs_from (topic, partition, from_offset)
             SELECT $1, * FROM UNNEST($2::int[], $3::bigint[])
             ON CONFLICT DO NOTHING",
        )
        .bind(topic)
        .bind(&partitions)
        .bind(&offsets)
        .execute(meta)
        .await?;
        let from: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT partition, from_offset FROM colloquy.admin_proofs_from WHERE topic = $1",
        )
        .bind(topic)
        .fetch_all(meta)
        .await?;
        Ok(Self {
            keys,
            from: from.into_iter().collect(),
        })
    }

    /// Proofs required of every admin record (a topic that never held unproven ones).
    pub fn required(keys: AdminKeys) -> Self {
        Self {
            keys,
            from: HashMap::new(),
        }
    }

    /// Whether the projector may apply `event`, read from `m`.
    pub fn check(&self, m: &OwnedMessage, event: &Event) -> Result<(), Unproven> {
        let origin = Origin {
            at: Some((m.partition(), m.offset())),
            key: m.key().unwrap_or_default(),
            value: m.payload().unwrap_or_default(),
            proof: proof_of(m),
        };
        self.check_origin(&origin, event)
    }

    /// Whether the projector may apply `event`, read from a record like `origin`.
    pub fn check_origin(&self, origin: &Origin<'_>, event: &Event) -> Result<(), Unproven> {
        if event.payload.event_type().producer() == Producer::Client {
            return Ok(());
        }
        if let Some((partition, offset)) = origin.at
            && offset < self.from.get(&partition).copied().unwrap_or(0)
        {
            return Ok(());
        }
        self.keys.verify(origin.key, origin.value, origin.proof)
    }
}

/// A record as its proof covers it.
#[derive(Debug)]
pub struct Origin<'a> {
    /// Its partition and offset in the topic, when known (a parked record may not say).
    pub at: Option<(i32, i64)>,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub proof: Option<&'a str>,
}

/// The proof `m` carries, if any.
pub fn proof_of(m: &OwnedMessage) -> Option<&str> {
    m.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == PROOF_HEADER)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    })
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders};
    use schemas::Payload;
    use schemas::payloads::{TokenCreated, WidgetLoaded};
    use schemas::testing::{at, event};

    use super::*;

    fn record(offset: i64, event: &Event, proof: Option<&str>) -> OwnedMessage {
        let headers = proof.map(|p| {
            OwnedHeaders::new().insert(Header {
                key: PROOF_HEADER,
                value: Some(p),
            })
        });
        OwnedMessage::new(
            Some(event.encode().unwrap_or_default()),
            Some(event.conversation_id.as_bytes().to_vec()),
            "t".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            headers,
        )
    }

    fn forged_token() -> Event {
        event(
            "a",
            "token:x",
            at(0),
            Payload::TokenCreated(TokenCreated {
                token_digest: "chosen".into(),
                websites: vec!["a".into()],
                name: None,
                expires_at: None,
                may_mint: true,
            }),
        )
    }

    #[test]
    fn admin_records_need_a_proof_from_the_cut_over_on_and_client_records_never() {
        let keys = AdminKeys::parse("k1:the-real-secret").unwrap_or_else(|_| AdminKeys::dev());
        let proofs = Proofs {
            keys: keys.clone(),
            from: HashMap::from([(0, 10)]),
        };
        let admin = forged_token();
        let value = admin.encode().unwrap_or_default();
        let proof = keys.sign(admin.conversation_id.as_bytes(), &value);
        let forged = AdminKeys::parse("k1:a-guess").unwrap_or_else(|_| AdminKeys::dev());
        let guessed = forged.sign(admin.conversation_id.as_bytes(), &value);

        // Written before proofs were required: replayed as before.
        assert_eq!(proofs.check(&record(9, &admin, None), &admin), Ok(()));
        assert_eq!(
            proofs.check(&record(10, &admin, None), &admin),
            Err(Unproven::Missing)
        );
        assert_eq!(
            proofs.check(&record(10, &admin, Some(&guessed)), &admin),
            Err(Unproven::Mismatch)
        );
        assert_eq!(
            proofs.check(&record(11, &admin, Some(&proof)), &admin),
            Ok(())
        );
        let client = event(
            "a",
            "c1",
            at(0),
            Payload::WidgetLoaded(WidgetLoaded::default()),
        );
        assert_eq!(proofs.check(&record(12, &client, None), &client), Ok(()));
    }
}
