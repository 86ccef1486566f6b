//! Delivering digests on PostgreSQL: subscriber states, pending articles,
//! the outbox and the commit after the server's 2xx (one transaction, as on
//! sled), what was sent, and the readers' own opt-outs.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::types::Json;

use super::Leased;
use super::{PUT_SUBSCRIBER_STATE, Pg, PgStore, col, decode_json};
use crate::article::{Article, ArticleId};
use crate::digest::SentStory;
use crate::outbox::OutboxEntry;
use crate::store::StoreError;
use crate::store::{Delivery, Holder, LeaseTerm, Readers};
use crate::subscriber::{OptOut, SubscriberState};

/// Addresses are compared without case, as on sled.
fn key(email: &str) -> String {
    email.to_lowercase()
}

impl Delivery for PgStore {
    async fn lease_subscriber(
        &self,
        email: &str,
        holder: &Holder,
        term: LeaseTerm,
    ) -> Result<bool, StoreError> {
        self.lease(Leased::Subscriber, &key(email), holder, term).await
    }

    async fn register_subscriber(
        &self,
        email: &str,
        fresh: &SubscriberState,
    ) -> Result<SubscriberState, StoreError> {
        let client = self.client().await?;
        let email = key(email);
        // A lease alone leaves a row without a state: that counts as none.
        let row = client
            .query_one(
                "INSERT INTO subscribers (email, state) VALUES ($1, $2)
                 ON CONFLICT (email) DO UPDATE SET state = COALESCE(subscribers.state, EXCLUDED.state)
                 RETURNING state",
                &[&email, &Json(fresh)],
            )
            .await
            .pg("subscribers", "register")?;
        decode_json("subscribers", &email, col(&row, 0)?)
    }

    async fn register_subscribers(
        &self,
        emails: &[String],
        fresh: &SubscriberState,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let mut emails: Vec<String> = emails.iter().map(|email| key(email)).collect();
        // One statement may not touch a row twice.
        emails.sort_unstable();
        emails.dedup();
        // Rows that have a state are left as they are (not rewritten).
        client
            .execute(
                "INSERT INTO subscribers (email, state) SELECT e, $2 FROM unnest($1::text[]) AS e
                 ON CONFLICT (email) DO UPDATE SET state = EXCLUDED.state WHERE subscribers.state IS NULL",
                &[&emails, &Json(fresh)],
            )
            .await
            .pg("subscribers", "register")?;
        Ok(())
    }

    async fn put_subscriber_state(&self, email: &str, state: &SubscriberState) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(PUT_SUBSCRIBER_STATE, &[&key(email), &Json(state)])
            .await
            .pg("subscribers", "write")?;
        Ok(())
    }

    async fn subscriber_state(&self, email: &str) -> Result<Option<SubscriberState>, StoreError> {
        let client = self.client().await?;
        let email = key(email);
        let row = client
            .query_opt("SELECT state FROM subscribers WHERE email = $1", &[&email])
            .await
            .pg("subscribers", "read")?;
        let state: Option<Value> = match row {
            Some(row) => col(&row, 0)?,
            None => None,
        };
        match state {
            Some(value) => decode_json("subscribers", &email, value).map(Some),
            None => Ok(None),
        }
    }

    /// In id order, as sled's keys give them.
    async fn pending(&self, email: &str) -> Result<Vec<ArticleId>, StoreError> {
        let client = self.client().await?;
        let email = key(email);
        let rows = client
            .query("SELECT id FROM pending WHERE email = $1 ORDER BY id", &[&email])
            .await
            .pg("pending", "read")?;
        rows.iter()
            .map(|row| {
                let id: String = col(row, 0)?;
                ArticleId::from_stored(&id).ok_or_else(|| StoreError::Corrupt {
                    tree: "pending",
                    key: format!("{email} {id}"),
                    message: "not an article id".to_owned(),
                })
            })
            .collect()
    }

    async fn article(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT article FROM articles WHERE id = $1", &[&id.as_str()])
            .await
            .pg("articles", "read")?;
        row.map(|row| decode_json("articles", id.as_str(), col(&row, 0)?))
            .transpose()
    }

    async fn articles(&self, ids: &[ArticleId]) -> Result<Vec<Option<Article>>, StoreError> {
        let client = self.client().await?;
        let wanted: Vec<&str> = ids.iter().map(ArticleId::as_str).collect();
        let mut found = super::articles_by_id(&client, &wanted).await?;
        Ok(wanted.iter().map(|id| found.remove(*id)).collect())
    }

    async fn sent_since(&self, email: &str, since: DateTime<Utc>) -> Result<Vec<SentStory>, StoreError> {
        let client = self.client().await?;
        let email = key(email);
        let mut stories = Vec::new();
        for row in client
            .query(
                "SELECT sent_ms, stories FROM sent WHERE email = $1 AND sent_ms >= $2 ORDER BY sent_ms",
                &[&email, &since.timestamp_millis()],
            )
            .await
            .pg("sent", "read")?
        {
            let at: i64 = col(&row, 0)?;
            let digest: Vec<SentStory> = decode_json("sent", &format!("{email} {at}"), col(&row, 1)?)?;
            stories.extend(digest);
        }
        Ok(stories)
    }

    async fn outbox(&self, email: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let client = self.client().await?;
        let email = key(email);
        let row = client
            .query_opt("SELECT entry FROM outbox WHERE email = $1", &[&email])
            .await
            .pg("outbox", "read")?;
        row.map(|row| decode_json("outbox", &email, col(&row, 0)?))
            .transpose()
    }

    async fn put_outbox(&self, email: &str, entry: &OutboxEntry) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO outbox (email, entry) VALUES ($1, $2)
                 ON CONFLICT (email) DO UPDATE SET entry = EXCLUDED.entry",
                &[&key(email), &Json(entry)],
            )
            .await
            .pg("outbox", "write")?;
        Ok(())
    }

    async fn drop_outbox(&self, email: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM outbox WHERE email = $1", &[&key(email)])
            .await
            .pg("outbox", "remove")?;
        Ok(())
    }

    /// After the server's 2xx: the outbox entry and its articles' pending
    /// marks go, the state and what was sent are stored, all or nothing.
    async fn commit_sent(
        &self,
        email: &str,
        entry: &OutboxEntry,
        state: &SubscriberState,
        sent: &[(ArticleId, SentStory)],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let email = key(email);
        let tx = client.transaction().await.pg(
            "outbox, pending, subscribers and sent",
            "begin a sent digest's commit to",
        )?;
        tx.execute("DELETE FROM outbox WHERE email = $1", &[&email])
            .await
            .pg("outbox", "remove")?;
        let ids: Vec<&str> = entry
            .article_ids
            .iter()
            .chain(&entry.dropped)
            .map(ArticleId::as_str)
            .collect();
        tx.execute(
            "DELETE FROM pending WHERE email = $1 AND id = ANY($2)",
            &[&email, &ids],
        )
        .await
        .pg("pending", "remove")?;
        tx.execute(PUT_SUBSCRIBER_STATE, &[&email, &Json(state)])
            .await
            .pg("subscribers", "write")?;
        // One record per digest (per sent time); two sends in one
        // millisecond both stay, as on sled.
        let mut digests: std::collections::BTreeMap<i64, Vec<&SentStory>> = Default::default();
        for (_, story) in sent {
            digests
                .entry(story.sent_at.timestamp_millis())
                .or_default()
                .push(story);
        }
        for (at, stories) in digests {
            tx.execute(
                "INSERT INTO sent (email, sent_ms, stories) VALUES ($1, $2, $3)
                 ON CONFLICT (email, sent_ms) DO UPDATE SET stories = sent.stories || EXCLUDED.stories",
                &[&email, &at, &Json(&stories)],
            )
            .await
            .pg("sent", "write")?;
        }
        tx.commit()
            .await
            .pg("outbox, pending, subscribers and sent", "commit a sent digest to")?;
        Ok(())
    }
}

impl Readers for PgStore {
    async fn opt_out(&self, email: &str, opt_out: &OptOut) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let added = client
            .execute(
                "INSERT INTO opt_outs (email, opt_out) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&key(email), &Json(opt_out)],
            )
            .await
            .pg("opt_outs", "write")?;
        Ok(added == 1)
    }

    async fn opt_in(&self, email: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let removed = client
            .execute("DELETE FROM opt_outs WHERE email = $1", &[&key(email)])
            .await
            .pg("opt_outs", "remove")?;
        Ok(removed > 0)
    }

    async fn opted_out(&self, email: &str) -> Result<Option<OptOut>, StoreError> {
        let client = self.client().await?;
        let email = key(email);
        let row = client
            .query_opt("SELECT opt_out FROM opt_outs WHERE email = $1", &[&email])
            .await
            .pg("opt_outs", "read")?;
        row.map(|row| decode_json("opt_outs", &email, col(&row, 0)?))
            .transpose()
    }

    async fn opt_outs(&self) -> Result<Vec<(String, OptOut)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT email, opt_out FROM opt_outs ORDER BY email", &[])
            .await
            .pg("opt_outs", "scan")?;
        rows.iter()
            .map(|row| {
                let email: String = col(row, 0)?;
                let opt_out = decode_json("opt_outs", &email, col(row, 1)?)?;
                Ok((email, opt_out))
            })
            .collect()
    }

    /// Pending articles and an unsent outbox entry of `email` go, together.
    async fn drop_waiting(&self, email: &str) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let email = key(email);
        let tx = client.transaction().await.pg(
            "pending and outbox",
            "begin dropping what waits for a subscriber in",
        )?;
        let dropped = tx
            .execute("DELETE FROM pending WHERE email = $1", &[&email])
            .await
            .pg("pending", "remove")?;
        tx.execute("DELETE FROM outbox WHERE email = $1", &[&email])
            .await
            .pg("outbox", "remove")?;
        tx.commit()
            .await
            .pg("pending and outbox", "drop what waits for a subscriber in")?;
        Ok(usize::try_from(dropped).unwrap_or(usize::MAX))
    }
}
