//! keepalived health checkers.
