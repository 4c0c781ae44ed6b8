//! Property and table tests: the reader against serde_json (see the module docs).
