//! The snowflake high-water mark. (Filled in by the foundation work.)
