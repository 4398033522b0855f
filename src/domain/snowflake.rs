//! Snowflake ID layout and generator (SPEC section 8). Filled in by the foundation work.
