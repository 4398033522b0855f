//! The store answers with the crate's one error kind ([`crate::error::Error`]):
//! sled failures and records that do not decode are `Storage`; a missing,
//! duplicate or unusable entity is `NotFound`, `Conflict` or `BadRequest`.

pub use crate::error::Error as StoreError;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Storage(format!("storage error: {e}"))
    }
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        }
    }
}

impl From<StoreError> for sled::transaction::ConflictableTransactionError<StoreError> {
    fn from(e: StoreError) -> Self {
        sled::transaction::ConflictableTransactionError::Abort(e)
    }
}

/// A stored record that does not decode.
pub fn decode_error(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(format!("cannot decode stored {what}: {reason}"))
}

/// A record that does not encode.
pub fn encode_error(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(format!("cannot encode {what}: {reason}"))
}

pub type StoreResult<T> = Result<T, StoreError>;
