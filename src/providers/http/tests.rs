//! Unit tests of the `http` provider that need no server.
