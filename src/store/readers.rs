//! The `opt_outs` tree: who unsubscribed, and since when.

use sled::Transactional;

use super::{Records, Store, StoreError, decode, encode, pending_prefix, subscriber_key};
use crate::subscriber::OptOut;

impl Store {
    pub fn opt_out(&self, email: &str, opt_out: &OptOut) -> Result<bool, StoreError> {
        let value = encode(opt_out)?;
        let swapped = self
            .opt_outs
            .compare_and_swap(subscriber_key(email), None as Option<&[u8]>, Some(value))
            .records("opt_outs", "write")?;
        Ok(swapped.is_ok())
    }

    pub fn opt_in(&self, email: &str) -> Result<bool, StoreError> {
        let removed = self
            .opt_outs
            .remove(subscriber_key(email))
            .records("opt_outs", "remove")?;
        Ok(removed.is_some())
    }

    pub fn opted_out(&self, email: &str) -> Result<Option<OptOut>, StoreError> {
        let key = subscriber_key(email);
        self.opt_outs
            .get(&key)
            .records("opt_outs", "read")?
            .map(|bytes| decode("opt_outs", &key, &bytes))
            .transpose()
    }

    pub fn opt_outs(&self) -> Result<Vec<(String, OptOut)>, StoreError> {
        let mut all = Vec::new();
        for row in self.opt_outs.iter() {
            let (key, bytes) = row.records("opt_outs", "scan")?;
            all.push((
                String::from_utf8_lossy(&key).into_owned(),
                decode("opt_outs", &key, &bytes)?,
            ));
        }
        Ok(all)
    }

    pub fn drop_waiting(&self, email: &str) -> Result<usize, StoreError> {
        let keys: Vec<sled::IVec> = self
            .pending
            .scan_prefix(pending_prefix(email))
            .keys()
            .collect::<Result<_, _>>()
            .records("pending", "scan")?;
        let outbox_key = subscriber_key(email);
        (&self.pending, &self.outbox)
            .transaction(|(pending, outbox)| {
                for key in &keys {
                    pending.remove(key)?;
                }
                outbox.remove(outbox_key.as_slice())?;
                Ok(())
            })
            .records("pending and outbox", "drop what waits for a subscriber in")?;
        Ok(keys.len())
    }
}
