//! Sync writes: assignee + activity + delivery state in one transaction, and
//! the bounded delivery log. (Filled in by the sync work, issue 3.)
