//! Project slugs (SPEC section 7). Filled in by the foundation work.
