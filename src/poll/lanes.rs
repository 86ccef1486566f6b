//! A poll round's lanes: each host's feeds in one queue, taken in turn by
//! up to `per_host` lanes, and the host's last requests closing its
//! connections.

use std::collections::{HashMap, VecDeque};

use crate::config::{FeedConfig, FeedSource};
use crate::feed_state::FeedState;
use crate::fetch::Connection;

use super::source_of;

/// One host's feeds in a poll round, taken in turn by its lanes (at most
/// `per_host` requests to it at once).
pub(super) struct HostQueue<'a> {
    feeds: std::sync::Mutex<VecDeque<(&'a FeedConfig, FeedState)>>,
    pub(super) lanes: usize,
}

impl<'a> HostQueue<'a> {
    /// Groups feeds by host: the hosts with most feeds first (a host with 50
    /// feeds on two lanes is the round's longest stretch), then in the order
    /// they first appear.
    pub(super) fn group(feeds: Vec<(&'a FeedConfig, FeedState)>, per_host: usize) -> Vec<HostQueue<'a>> {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut groups: Vec<VecDeque<(&'a FeedConfig, FeedState)>> = Vec::new();
        for (feed, state) in feeds {
            let next = groups.len();
            let at = *index.entry(host_of(feed, &state)).or_insert(next);
            if at == next {
                groups.push(VecDeque::new());
            }
            groups[at].push_back((feed, state));
        }
        groups.sort_by_key(|feeds| std::cmp::Reverse(feeds.len()));
        groups
            .into_iter()
            .map(|feeds| HostQueue {
                lanes: per_host.min(feeds.len()).max(1),
                feeds: std::sync::Mutex::new(feeds),
            })
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The next feed, and whether its connection is needed again: once fewer
    /// feeds are left than the host has lanes, it is not. Best effort: the
    /// pool may have opened one connection more than there are lanes (a
    /// request that starts before the previous one's connection is back), and
    /// a redirect may lead elsewhere; such a leftover idles out of the pool
    /// after 5 s. In the daemon, where a tick has a feed or two per host, most
    /// requests close: a new connection per poll, but none held between ticks.
    pub(super) fn next(&self) -> Option<(&'a FeedConfig, FeedState, Connection)> {
        let mut feeds = self.lock();
        let (feed, state) = feeds.pop_front()?;
        let connection = if feeds.len() < self.lanes {
            Connection::Close
        } else {
            Connection::KeepAlive
        };
        Some((feed, state, connection))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(&'a FeedConfig, FeedState)>> {
        // Nothing panics while holding it; a poisoned queue is still a queue.
        self.feeds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The host a feed is fetched from (local files share one "host").
fn host_of(feed: &FeedConfig, state: &FeedState) -> String {
    match source_of(feed, state) {
        FeedSource::Http(url) => url.host_str().unwrap_or_default().to_owned(),
        FeedSource::File(_) => String::new(),
    }
}
