//! Checks already made. A tenant's query is checked when the API accepts it and again when it
//! runs, and dashboards send the same texts over and over; each check is three or more engine
//! round trips (parse, re-print, parse again, one catalog look per table). A check's answer
//! depends on the text, the grants, the function policy (fixed at open) and the catalog, so an
//! answer is reused for the same text and grants only while the catalog cannot have changed:
//! every statement that might change it (anything but a checked tenant query) bumps a
//! generation when it starts and when it ends, and an answer computed while one was running,
//! or across a bump, is never stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Principal;

/// Answers kept at most; the map is emptied when full (texts repeat or they do not).
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
struct State {
    generation: u64,
    writers: usize,
    /// Grants, then text: looked up by reference, no key built per query.
    checked: HashMap<Principal, HashMap<String, Arc<str>>>,
    /// Answers kept, over every principal.
    entries: usize,
}

impl State {
    fn bump(&mut self) {
        self.generation += 1;
        self.clear();
    }

    fn clear(&mut self) {
        self.checked.clear();
        self.entries = 0;
    }
}

/// The checks made since the catalog last may have changed. Shared by a warehouse's runs.
#[derive(Default)]
pub(crate) struct CheckCache {
    state: Mutex<State>,
}

/// Where a check began: its answer is stored only if the catalog stayed as it was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    quiet: bool,
}

impl CheckCache {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The text to execute for `sql` checked for `principal`, if a check of it still holds.
    pub fn get(&self, principal: &Principal, sql: &str) -> Option<Arc<str>> {
        self.state().checked.get(principal).and_then(|texts| texts.get(sql)).cloned()
    }

    /// Taken before checking: see [`CheckCache::put`].
    pub fn ticket(&self) -> Ticket {
        let state = self.state();
        Ticket { generation: state.generation, quiet: state.writers == 0 }
    }

    /// Keeps a check's answer, unless the catalog may have changed since `ticket`.
    pub fn put(&self, ticket: Ticket, principal: &Principal, sql: &str, canonical: &Arc<str>) {
        let mut state = self.state();
        if !ticket.quiet || state.writers > 0 || state.generation != ticket.generation {
            return;
        }
        if state.entries >= MAX_ENTRIES {
            state.clear();
        }
        let texts = state.checked.entry(principal.clone()).or_default();
        if texts.insert(sql.to_owned(), Arc::clone(canonical)).is_none() {
            state.entries += 1;
        }
    }

    /// Marks a statement that may change the catalog as running until the guard drops.
    pub fn writing(self: &Arc<Self>) -> Writing {
        let mut state = self.state();
        state.writers += 1;
        state.bump();
        Writing { cache: Arc::clone(self) }
    }
}

/// A statement that may change the catalog is running.
pub(crate) struct Writing {
    cache: Arc<CheckCache>,
}

impl Drop for Writing {
    fn drop(&mut self) {
        let mut state = self.cache.state();
        state.writers = state.writers.saturating_sub(1);
        state.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sql: &str) -> Arc<str> {
        sql.into()
    }

    fn tenant() -> Principal {
        Principal { schemas: vec!["acme".into()] }
    }

    #[test]
    fn an_answer_is_kept_for_the_same_text_and_grants_only() {
        let cache = Arc::new(CheckCache::default());
        cache.put(cache.ticket(), &tenant(), "SELECT 1", &text("SELECT 1"));
        assert_eq!(cache.get(&tenant(), "SELECT 1").as_deref(), Some("SELECT 1"));
        assert_eq!(cache.get(&tenant(), "SELECT 2"), None);
        assert_eq!(cache.get(&Principal { schemas: vec!["beta".into()] }, "SELECT 1"), None);
    }

    #[test]
    fn a_statement_that_may_change_the_catalog_drops_every_answer_and_blocks_new_ones() {
        let cache = Arc::new(CheckCache::default());
        cache.put(cache.ticket(), &tenant(), "SELECT * FROM t", &text("SELECT * FROM t"));
        let writing = cache.writing();
        assert_eq!(cache.get(&tenant(), "SELECT * FROM t"), None, "dropped when the writer starts");
        // A check made while it runs may have seen the catalog half changed.
        cache.put(cache.ticket(), &tenant(), "SELECT * FROM t", &text("SELECT * FROM t"));
        assert_eq!(cache.get(&tenant(), "SELECT * FROM t"), None);
        // A check that began before the writer ended is not kept either.
        let before = cache.ticket();
        drop(writing);
        cache.put(before, &tenant(), "SELECT * FROM t", &text("SELECT * FROM t"));
        assert_eq!(cache.get(&tenant(), "SELECT * FROM t"), None);
        cache.put(cache.ticket(), &tenant(), "SELECT * FROM t", &text("SELECT * FROM t"));
        assert!(cache.get(&tenant(), "SELECT * FROM t").is_some(), "kept once the catalog is quiet");
    }

    #[test]
    fn a_check_that_began_before_a_writer_started_is_not_kept() {
        let cache = Arc::new(CheckCache::default());
        let before = cache.ticket();
        let writing = cache.writing();
        drop(writing);
        cache.put(before, &tenant(), "SELECT 1", &text("SELECT 1"));
        assert_eq!(cache.get(&tenant(), "SELECT 1"), None);
    }
}
