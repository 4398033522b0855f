//! Jira webhook payload parsing (SPEC section 4). Filled in by the sync work.
